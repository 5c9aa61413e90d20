//! S3 through the real SDK: flexible-checksum uploads (aws-chunked), SSE-KMS, ranged reads,
//! listing with prefix/delimiter/continuation, bucket policies.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use common::*;

#[tokio::test]
async fn put_head_get_with_checksums_sse_kms_and_ranges() {
    let sim = start().await;
    let client = s3(&config_for(&sim, RESEARCH_ADMIN));
    let bucket = ferry_sim::ARTIFACT_BUCKET;
    let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    // Default SDK behaviour: CRC32 flexible checksum (aws-chunked with a trailer).
    let put = client
        .put_object()
        .bucket(bucket)
        .key("models/new/model.safetensors")
        .body(ByteStream::from(body.clone()))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/kms-cmk-111122223333")
        .send()
        .await
        .expect("put sse-kms");
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(
        put.ssekms_key_id(),
        Some(env(&sim, "RESEARCH_KMS_KEY_ARN").as_str())
    );

    // A streaming body (from a file) goes out as aws-chunked with the CRC32 in a trailer.
    let dir = std::env::temp_dir().join(format!("ferry-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shard.bin");
    std::fs::write(&path, &body).unwrap();
    client
        .put_object()
        .bucket(bucket)
        .key("models/new/streamed.bin")
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .expect("put streaming");
    let streamed = client
        .get_object()
        .bucket(bucket)
        .key("models/new/streamed.bin")
        .send()
        .await
        .expect("get streamed");
    assert_eq!(
        streamed.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[..]
    );
    std::fs::remove_dir_all(&dir).ok();

    // SHA-256 checksum in a header, and an explicit checksum value.
    client
        .put_object()
        .bucket(bucket)
        .key("notes/readme.txt")
        .body(ByteStream::from_static(b"hello world"))
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .expect("put sha256");
    let bad = client
        .put_object()
        .bucket(bucket)
        .key("notes/bad.txt")
        .body(ByteStream::from_static(b"hello world"))
        .checksum_crc32("AAAAAA==")
        .send()
        .await
        .expect_err("bad checksum");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&bad.into_service_error()),
        Some("BadDigest")
    );

    let head = client
        .head_object()
        .bucket(bucket)
        .key("models/new/model.safetensors")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(10_000));
    let got = client
        .get_object()
        .bucket(bucket)
        .key("models/new/model.safetensors")
        .range("bytes=0-7")
        .send()
        .await
        .expect("range");
    assert_eq!(got.content_range(), Some("bytes 0-7/10000"));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[..8]
    );
    let tail = client
        .get_object()
        .bucket(bucket)
        .key("models/new/model.safetensors")
        .range("bytes=-3")
        .send()
        .await
        .expect("suffix");
    assert_eq!(
        tail.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[9997..]
    );
    let full = client
        .get_object()
        .bucket(bucket)
        .key("models/new/model.safetensors")
        .send()
        .await
        .expect("full");
    assert_eq!(
        full.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[..]
    );
    let e = client
        .get_object()
        .bucket(bucket)
        .key("models/new/model.safetensors")
        .range("bytes=20000-")
        .send()
        .await
        .expect_err("416");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("InvalidRange")
    );
    let e = client
        .get_object()
        .bucket(bucket)
        .key("nope")
        .send()
        .await
        .expect_err("404");
    assert!(e.into_service_error().is_no_such_key());
    let e = client
        .head_object()
        .bucket(bucket)
        .key("nope")
        .send()
        .await
        .expect_err("404");
    assert!(e.into_service_error().is_not_found());
    let e = client
        .get_object()
        .bucket("no-such-bucket-here")
        .key("k")
        .send()
        .await
        .expect_err("bucket");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("NoSuchBucket")
    );
}

#[tokio::test]
async fn sse_kms_needs_generate_data_key_to_write_and_decrypt_to_read() {
    let sim = start().await;
    // A research-account bucket that grants the hosting admin read access, but no key grant.
    let research = s3(&config_for(&sim, RESEARCH_ADMIN));
    research
        .create_bucket()
        .bucket("shared-111122223333")
        .send()
        .await
        .expect("create bucket");
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:root"},
        "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"], "Resource": ["arn:aws:s3:::shared-111122223333", "arn:aws:s3:::shared-111122223333/*"]}]});
    research
        .put_bucket_policy()
        .bucket("shared-111122223333")
        .policy(policy.to_string())
        .send()
        .await
        .expect("policy");
    research
        .put_object()
        .bucket("shared-111122223333")
        .key("secret.bin")
        .body(ByteStream::from_static(b"abc"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(env(&sim, "RESEARCH_KMS_KEY_ARN"))
        .send()
        .await
        .expect("put");
    research
        .put_object()
        .bucket("shared-111122223333")
        .key("plain.bin")
        .body(ByteStream::from_static(b"abc"))
        .send()
        .await
        .expect("put plain");
    let hosting = s3(&config_for(&sim, HOSTING_ADMIN));
    hosting
        .get_object()
        .bucket("shared-111122223333")
        .key("plain.bin")
        .send()
        .await
        .expect("plain readable cross-account");
    let e = hosting
        .get_object()
        .bucket("shared-111122223333")
        .key("secret.bin")
        .send()
        .await
        .expect_err("no kms grant");
    let svc = e.into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&svc),
        Some("AccessDenied")
    );
    assert!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(&svc)
            .unwrap()
            .contains("kms:Decrypt")
    );
    let e = hosting
        .put_object()
        .bucket("shared-111122223333")
        .key("up.bin")
        .body(ByteStream::from_static(b"x"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(env(&sim, "RESEARCH_KMS_KEY_ARN"))
        .send()
        .await
        .expect_err("no GenerateDataKey");
    assert!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(&e.into_service_error())
            .unwrap()
            .contains("kms:GenerateDataKey")
    );
    let dup = research
        .create_bucket()
        .bucket("shared-111122223333")
        .send()
        .await
        .expect_err("owned");
    assert!(dup.into_service_error().is_bucket_already_owned_by_you());
    let taken = hosting
        .create_bucket()
        .bucket("shared-111122223333")
        .send()
        .await
        .expect_err("taken");
    assert!(taken.into_service_error().is_bucket_already_exists());
}

#[tokio::test]
async fn list_objects_v2_prefix_delimiter_and_continuation() {
    let sim = start().await;
    let client = s3(&config_for(&sim, RESEARCH_ADMIN));
    client
        .create_bucket()
        .bucket("listing-bucket")
        .send()
        .await
        .expect("bucket");
    let keys = ["a/1", "a/2", "a/b/3", "c/4", "c/5", "d", "e/6"];
    for k in keys {
        client
            .put_object()
            .bucket("listing-bucket")
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("put");
    }
    // Pagination without delimiter, 2 per page.
    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let out = client
            .list_objects_v2()
            .bucket("listing-bucket")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("page");
        pages += 1;
        seen.extend(out.contents().iter().map(|o| o.key().unwrap().to_owned()));
        assert!(out.key_count().unwrap() <= 2);
        if out.is_truncated() != Some(true) {
            break;
        }
        token = out.next_continuation_token().map(str::to_owned);
    }
    assert_eq!(seen, keys);
    assert_eq!(pages, 4);

    // Delimiter groups into common prefixes; pagination counts prefixes as entries.
    let out = client
        .list_objects_v2()
        .bucket("listing-bucket")
        .delimiter("/")
        .send()
        .await
        .expect("delim");
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["a/", "c/", "e/"]);
    let top: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(top, ["d"]);
    let first = client
        .list_objects_v2()
        .bucket("listing-bucket")
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .expect("p1");
    assert_eq!(first.common_prefixes().len(), 2);
    let second = client
        .list_objects_v2()
        .bucket("listing-bucket")
        .delimiter("/")
        .max_keys(2)
        .continuation_token(first.next_continuation_token().unwrap())
        .send()
        .await
        .expect("p2");
    assert_eq!(
        second
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .collect::<Vec<_>>(),
        ["d"]
    );
    assert_eq!(
        second
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect::<Vec<_>>(),
        ["e/"]
    );

    let out = client
        .list_objects_v2()
        .bucket("listing-bucket")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .expect("prefix");
    assert_eq!(
        out.contents()
            .iter()
            .filter_map(|o| o.key())
            .collect::<Vec<_>>(),
        ["a/1", "a/2"]
    );
    assert_eq!(
        out.common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect::<Vec<_>>(),
        ["a/b/"]
    );
}

#[tokio::test]
async fn bucket_policy_put_get_delete() {
    let sim = start().await;
    let client = s3(&config_for(&sim, RESEARCH_ADMIN));
    let bucket = ferry_sim::ARTIFACT_BUCKET;
    let got = client
        .get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .expect("get");
    let doc: serde_json::Value = serde_json::from_str(got.policy().unwrap()).unwrap();
    assert_eq!(
        doc["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999"
    );
    let bad = client
        .put_bucket_policy()
        .bucket(bucket)
        .policy("nope")
        .send()
        .await
        .expect_err("malformed");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&bad.into_service_error()),
        Some("MalformedPolicy")
    );
    client
        .delete_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .expect("delete");
    let e = client
        .get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .expect_err("none");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("NoSuchBucketPolicy")
    );
    // Another account cannot administer the bucket policy.
    let e = s3(&config_for(&sim, HOSTING_ADMIN))
        .put_bucket_policy()
        .bucket(bucket)
        .policy(doc.to_string())
        .send()
        .await
        .expect_err("foreign");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("AccessDenied")
    );
}

#[tokio::test]
async fn s3_prefix_condition_limits_listing() {
    let sim = start().await;
    trust_hosting_admin(&sim).await;
    let research = s3(&config_for(&sim, RESEARCH_ADMIN));
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999"}, "Action": "s3:ListBucket",
         "Resource": "arn:aws:s3:::model-artifacts-111122223333", "Condition": {"StringLike": {"s3:prefix": ["models/*"]}}},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999"}, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::model-artifacts-111122223333/models/*"}]});
    research
        .put_bucket_policy()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .policy(policy.to_string())
        .send()
        .await
        .expect("policy");
    let role = s3(&exec_role_config(&sim).await);
    role.list_objects_v2()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .prefix("models/sample-llama/")
        .send()
        .await
        .expect("allowed prefix");
    let e = role
        .list_objects_v2()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .prefix("other/")
        .send()
        .await
        .expect_err("other prefix");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("AccessDenied")
    );
    let e = role
        .list_objects_v2()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .send()
        .await
        .expect_err("no prefix");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("AccessDenied")
    );
}

#[tokio::test]
async fn aws_chunked_streaming_upload_is_decoded_and_its_trailer_checksum_verified() {
    // The streaming path must really be aws-chunked; the CRC32 trailer is verified server side
    // (a mismatch would be BadDigest, see the unit tests of the decoder).
    let sim = start().await;
    let client = s3(&config_for(&sim, RESEARCH_ADMIN));
    let dir = std::env::temp_dir().join(format!("ferry-sim-chunked-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.bin");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let out = client
        .put_object()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .key("big.bin")
        .body(ByteStream::from_path(&path).await.unwrap())
        .customize()
        .mutate_request(|req| {
            assert_eq!(
                req.headers().get("content-encoding"),
                Some("aws-chunked"),
                "SDK uses aws-chunked for streams"
            );
        })
        .send()
        .await
        .expect("streamed put");
    assert!(out.e_tag().is_some());
    let got = client
        .get_object()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .key("big.bin")
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().len(),
        200_000
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn keys_with_spaces_unicode_and_reserved_characters_round_trip() {
    let sim = start().await;
    let client = s3(&config_for(&sim, RESEARCH_ADMIN));
    let keys = [
        "odd/with space.txt",
        "odd/ünïcödé.json",
        "odd/a+b=c&d.bin",
        "odd/percent%20literal",
    ];
    for k in keys {
        client
            .put_object()
            .bucket(ferry_sim::ARTIFACT_BUCKET)
            .key(k)
            .body(ByteStream::from(k.as_bytes().to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {k}: {e:?}"));
        let got = client
            .get_object()
            .bucket(ferry_sim::ARTIFACT_BUCKET)
            .key(k)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {k}: {e:?}"));
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            k.as_bytes()
        );
    }
    let listed = client
        .list_objects_v2()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .prefix("odd/")
        .send()
        .await
        .expect("list");
    let mut got: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    got.sort_unstable();
    let mut want = keys.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[tokio::test]
async fn multipart_upload_assembles_parts_in_order() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let sim = start().await;
    let client = s3(&config_for(&sim, RESEARCH_ADMIN));
    let bucket = ferry_sim::ARTIFACT_BUCKET;
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key("models/mp/model-00001-of-00001.safetensors")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/kms-cmk-111122223333")
        .send()
        .await
        .expect("create upload");
    let id = created.upload_id().unwrap().to_owned();
    let mut parts = Vec::new();
    for (n, chunk) in [(1, vec![1u8; 1000]), (2, vec![2u8; 500])] {
        let out = client
            .upload_part()
            .bucket(bucket)
            .key("models/mp/model-00001-of-00001.safetensors")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(chunk))
            .send()
            .await
            .expect("part");
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    let done = client
        .complete_multipart_upload()
        .bucket(bucket)
        .key("models/mp/model-00001-of-00001.safetensors")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    assert!(
        done.e_tag().unwrap().ends_with("-2\""),
        "{:?}",
        done.e_tag()
    );
    let got = client
        .get_object()
        .bucket(bucket)
        .key("models/mp/model-00001-of-00001.safetensors")
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(bytes.len(), 1500);
    assert!(bytes[..1000].iter().all(|b| *b == 1) && bytes[1000..].iter().all(|b| *b == 2));
    let e = client
        .upload_part()
        .bucket(bucket)
        .key("models/mp/model-00001-of-00001.safetensors")
        .upload_id(&id)
        .part_number(3)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("completed upload is gone");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("NoSuchUpload")
    );
    let other = client
        .create_multipart_upload()
        .bucket(bucket)
        .key("tmp")
        .send()
        .await
        .unwrap();
    client
        .abort_multipart_upload()
        .bucket(bucket)
        .key("tmp")
        .upload_id(other.upload_id().unwrap())
        .send()
        .await
        .expect("abort");
}
