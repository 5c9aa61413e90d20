-- The SageMaker model package a request's source was resolved from: its ARN, group, version,
-- approval status at submit and the S3 prefix it pointed at (domain::model_package::PackageLineage).
ALTER TABLE import_requests ADD COLUMN model_package jsonb;
