"""The checker against crafted responses: each must raise the named rule, and a correct
response must raise none. A checker that passes everything would make the suite's
zero meaningless; this runs before the cases."""

import botocore.loaders
import botocore.model
from checker import Checker

REQ = "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
JOB = (
    '"jobArn":"arn:aws:bedrock:us-east-1:777788889999:model-import-job/abcdefabcdef",'
    '"jobName":"j","status":"Completed"'
)

# (service, operation, status, headers, body, method, expected rules; () = clean)
SAMPLES = [
    ("bedrock", "ListModelImportJobs", 200, {}, b'{"modelImportJobSummaries":[{' + JOB.encode() + b',"creationTime":"2026-01-01T00:00:00.000Z"}]}', "GET", ()),
    ("bedrock", "ListModelImportJobs", 200, {}, b'{"modelImportJobSummaries":[{' + JOB.encode() + b',"creationTime":1767225600}]}', "GET", ("timestamp",)),
    ("bedrock", "ListModelImportJobs", 200, {}, b'{"modelImportJobSummaries":[{"jobName":"j","status":"Running","creationTime":"2026-01-01T00:00:00Z"}]}', "GET", ("required", "enum")),
    ("bedrock", "ListModelImportJobs", 200, {}, b'{"modelImportJobSummaries":{},"extra":1}', "GET", ("type", "unknown-member")),
    ("bedrock", "CreateModelImportJob", 200, {}, b'{"jobArn":"arn:aws:bedrock:us-east-1:777788889999:model-import-job/abcdefabcdef"}', "POST", ("status",)),
    ("bedrock", "GetModelImportJob", 404, {"x-amzn-errortype": "ResourceNotFoundException"}, b'{"message":"no"}', "GET", ()),
    ("bedrock", "GetModelImportJob", 400, {"x-amzn-errortype": "ResourceNotFoundException"}, b'{"message":"no"}', "GET", ("error-status",)),
    ("bedrock", "GetModelImportJob", 400, {}, b'{"message":"no"}', "GET", ("error-encoding",)),
    ("bedrock", "GetModelImportJob", 400, {"x-amzn-errortype": "NoSuchThing"}, b"{}", "GET", ("error-code",)),
    ("kms", "DescribeKey", 200, {}, b'{"KeyMetadata":{"KeyId":"k","CreationDate":1.7e9,"Enabled":true}}', "POST", ()),
    ("kms", "DescribeKey", 200, {}, b'{"KeyMetadata":{"KeyId":"k","CreationDate":"2026-01-01T00:00:00Z","Enabled":"true"}}', "POST", ("timestamp", "type")),
    ("kms", "DescribeKey", 200, {}, b'{"KeyMetadata":{"Arn":"arn:aws:kms:us-east-1:1:key/k"}}', "POST", ("required",)),
    ("kms", "DescribeKey", 400, {}, b'{"message":"no"}', "POST", ("error-encoding",)),
    ("kms", "DescribeKey", 400, {}, b'{"__type":"NotFoundException","message":"no"}', "POST", ()),
    ("sts", "GetCallerIdentity", 200, {}, f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/u</Arn><UserId>AIDA</UserId><Account>111122223333</Account></GetCallerIdentityResult>{REQ}</GetCallerIdentityResponse>'.encode(), "POST", ()),
    ("sts", "GetCallerIdentity", 200, {}, f'<GetCallerIdentityResponse xmlns="urn:other"><Arn>arn:aws:iam::111122223333:user/u</Arn>{REQ}</GetCallerIdentityResponse>'.encode(), "POST", ("xml-namespace", "query-envelope")),
    ("iam", "SimulatePrincipalPolicy", 200, {}, f'<SimulatePrincipalPolicyResponse xmlns="{IAM_NS}"><SimulatePrincipalPolicyResult><EvaluationResults><item><EvalActionName>s3:GetObject</EvalActionName><EvalDecision>maybe</EvalDecision></item></EvaluationResults><IsTruncated>no</IsTruncated></SimulatePrincipalPolicyResult>{REQ}</SimulatePrincipalPolicyResponse>'.encode(), "POST", ("xml-encoding", "type")),
    ("iam", "SimulatePrincipalPolicy", 200, {}, f'<SimulatePrincipalPolicyResponse xmlns="{IAM_NS}"><SimulatePrincipalPolicyResult><EvaluationResults><member><EvalActionName>s3:GetObject</EvalActionName><EvalDecision>maybe</EvalDecision></member></EvaluationResults></SimulatePrincipalPolicyResult>{REQ}</SimulatePrincipalPolicyResponse>'.encode(), "POST", ("enum",)),
    ("iam", "PutRolePolicy", 200, {}, f'<PutRolePolicyResponse xmlns="{IAM_NS}">{REQ}</PutRolePolicyResponse>'.encode(), "POST", ()),
    ("iam", "GetRole", 404, {}, f'<ErrorResponse xmlns="{IAM_NS}"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>'.encode(), "POST", ()),
    ("iam", "GetRole", 400, {}, b"<Error><Code>NoSuchEntity</Code></Error>", "POST", ("error-encoding",)),
    ("iam", "GetRole", 400, {}, f'<ErrorResponse xmlns="{IAM_NS}"><Error><Type>Receiver</Type><Code>NoSuchEntity</Code></Error></ErrorResponse>'.encode(), "POST", ("error-status", "error-encoding")),
    ("s3", "ListObjectsV2", 200, {}, b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>false</IsTruncated><Contents><Key>k</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><Size>3</Size></Contents><Contents><Key>l</Key><Size>4</Size></Contents></ListBucketResult>', "GET", ()),
    ("s3", "ListObjectsV2", 200, {}, b"<ListBucketResult><IsTruncated>yes</IsTruncated><Contents><Key>k</Key><LastModified>Thu, 01 Jan 2026 00:00:00 GMT</LastModified><Size>x</Size></Contents></ListBucketResult>", "GET", ("type", "timestamp")),
    ("s3", "HeadObject", 200, {"last-modified": "2026-01-01T00:00:00Z", "content-length": "x"}, b"", "HEAD", ("timestamp", "type")),
    ("s3", "DeleteObject", 200, {}, b"", "DELETE", ("status",)),
    ("s3", "GetObject", 404, {}, b"<Error><Code>NoSuchKey</Code><Message>m</Message></Error>", "GET", ()),
    ("s3", "GetObject", 400, {}, b"<Error><Code>NoSuchKey</Code><Message>m</Message></Error>", "GET", ("error-status",)),
    ("s3", "GetObject", 400, {}, b"<ErrorResponse><Message>m</Message></ErrorResponse>", "GET", ("error-encoding",)),
]


def self_test():
    loader = botocore.loaders.Loader()
    models = {}
    failures = 0
    for service, op_name, status, headers, body, method, want in SAMPLES:
        if service not in models:
            models[service] = botocore.model.ServiceModel(loader.load_service_model(service, "service-2"), service_name=service)
        model = models[service]
        op = model.operation_model(op_name)
        checker = Checker(model)
        if status < 300:
            checker.success(op, status, headers, body)
        else:
            checker.error(op, status, headers, body, method)
        got = {v[0] for v in checker.violations}
        if set(want) != got:
            failures += 1
            print(f"checker self-test FAILED: {service}:{op_name} HTTP {status}: want {sorted(want)}, got {sorted(got)}")
            for v in checker.violations:
                print(f"    {v}")
    print(f"checker self-test: {len(SAMPLES) - failures}/{len(SAMPLES)} crafted responses judged as expected")
    return failures == 0
