# Rendered by `ferry policy render --format terraform`; regenerate rather than edit.
# Hosting account 777788889999 side of the Bedrock import chain for environment prod in us-east-1. Creates the execution role and Ferry's control role; the hosting key policy statement is an output to add to the key's policy.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "The region of the Bedrock imports (the hosting environment's region)"
}

variable "hosting_account_id" {
  type        = string
  default     = "777788889999"
  description = "The hosting account, where Bedrock imports and serves the models"
}

variable "execution_role_name" {
  type        = string
  default     = "BedrockCMIExecutionRole-777788889999"
  description = "The name of the IAM execution role of the import jobs"
}

variable "control_role_name" {
  type        = string
  default     = "FerryControlRole-777788889999"
  description = "The name of Ferry's control role in the hosting account"
}

variable "hosting_kms_key" {
  type        = string
  default     = "arn:aws:kms:us-east-1:777788889999:key/0f1e2d3c-7777-4888-8999-777788889999"
  description = "The hosting key that encrypts the imported models"
}

variable "research_account_id" {
  type        = string
  default     = "111122223333"
  description = "A research account that holds model artifacts"
}

variable "source_bucket" {
  type        = string
  default     = "model-artifacts-111122223333"
  description = "The research bucket configured as model-artifacts-111122223333"
}

variable "source_kms_key" {
  type        = string
  default     = "arn:aws:kms:us-east-1:111122223333:key/0f1e2d3c-1111-4222-8333-111122223333"
  description = "A research key that encrypts model artifacts"
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.hosting_account_id]
}

# Attach as an inline or managed policy of arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999 (walkthrough steps 2 and 5).
data "aws_iam_policy_document" "execution_role_policy" {
  statement {
    # lists s3://model-artifacts-111122223333/ only while the bucket belongs to account 111122223333
    sid       = "ListModelArtifacts"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = ["arn:aws:s3:::${var.source_bucket}"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceAccount"
      values   = ["${var.research_account_id}"]
    }
  }
  statement {
    # reads the artifacts under s3://model-artifacts-111122223333/ only while the bucket belongs to account 111122223333
    sid       = "ReadModelArtifacts"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["arn:aws:s3:::${var.source_bucket}/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceAccount"
      values   = ["${var.research_account_id}"]
    }
  }
  statement {
    # decrypts artifacts encrypted with the research key arn:aws:kms:us-east-1:111122223333:key/0f1e2d3c-1111-4222-8333-111122223333
    sid       = "DecryptModelArtifacts"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = ["${var.source_kms_key}"]
  }
  statement {
    # encrypts and decrypts the imported model with the hosting key arn:aws:kms:us-east-1:777788889999:key/0f1e2d3c-7777-4888-8999-777788889999
    sid       = "EncryptImportedModel"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"]
    resources = ["${var.hosting_kms_key}"]
  }
}

# The trust (assume role) policy of arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999 (walkthrough step 2).
data "aws_iam_policy_document" "trust_policy" {
  statement {
    # lets Bedrock assume the role only for model import jobs of account 777788889999 in us-east-1 (confused-deputy protection)
    sid       = "BedrockCMITrust"
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["bedrock.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:aws:bedrock:${var.region}:${var.hosting_account_id}:model-import-job/*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = ["${var.hosting_account_id}"]
    }
  }
  statement {
    # lets Ferry's control role arn:aws:iam::777788889999:role/FerryControlRole-777788889999 assume the role to read the artifacts with Bedrock's rights before submitting
    sid       = "AllowFerryPreflight"
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${var.hosting_account_id}:role/${var.control_role_name}"]
    }
  }
}

# Add this statement to the key policy of arn:aws:kms:us-east-1:777788889999:key/0f1e2d3c-7777-4888-8999-777788889999 in account 777788889999 (walkthrough step 4).
data "aws_iam_policy_document" "hosting_key_policy" {
  statement {
    # lets the execution role arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999 encrypt and decrypt the imported model
    sid       = "AllowExecutionRoleUseOfKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${var.hosting_account_id}:role/${var.execution_role_name}"]
    }
  }
}

# Attach as an inline or managed policy of Ferry's control role arn:aws:iam::777788889999:role/FerryControlRole-777788889999.
data "aws_iam_policy_document" "control_role_policy" {
  statement {
    # creates import jobs and lists jobs and imported models (these actions take no resource ARN)
    sid       = "ModelImport"
    effect    = "Allow"
    actions   = ["bedrock:CreateModelImportJob", "bedrock:ListModelImportJobs", "bedrock:ListImportedModels"]
    resources = ["*"]
  }
  statement {
    # tracks this account's import jobs in us-east-1 and reads or deletes its imported models
    sid       = "TrackModelImports"
    effect    = "Allow"
    actions   = ["bedrock:GetModelImportJob", "bedrock:GetImportedModel", "bedrock:DeleteImportedModel"]
    resources = ["arn:aws:bedrock:${var.region}:${var.hosting_account_id}:model-import-job/*", "arn:aws:bedrock:${var.region}:${var.hosting_account_id}:imported-model/*"]
  }
  statement {
    # passes arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999 to Bedrock, and to no other service
    sid       = "PassExecutionRole"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = ["arn:aws:iam::${var.hosting_account_id}:role/${var.execution_role_name}"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["bedrock.amazonaws.com"]
    }
  }
  statement {
    # assumes arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999 to check the artifacts with Bedrock's rights
    sid       = "AssumeExecutionRoleForPreflight"
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    resources = ["arn:aws:iam::${var.hosting_account_id}:role/${var.execution_role_name}"]
  }
  statement {
    # reads the trust policy of arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999 for preflight
    sid       = "ReadExecutionRoleTrust"
    effect    = "Allow"
    actions   = ["iam:GetRole"]
    resources = ["arn:aws:iam::${var.hosting_account_id}:role/${var.execution_role_name}"]
  }
  statement {
    # asks IAM's policy simulator whether it may pass the execution role to Bedrock and invoke imported models (preflight, doctor)
    sid       = "SimulateOwnPermissions"
    effect    = "Allow"
    actions   = ["iam:SimulatePrincipalPolicy"]
    resources = ["arn:aws:iam::${var.hosting_account_id}:role/${var.control_role_name}"]
  }
  statement {
    # invokes this account's imported models in us-east-1 to check that they answer (the readiness check after an import)
    sid       = "InvokeImportedModels"
    effect    = "Allow"
    actions   = ["bedrock:InvokeModel"]
    resources = ["arn:aws:bedrock:${var.region}:${var.hosting_account_id}:imported-model/*"]
  }
  statement {
    # reads the tags of this account's imported models in us-east-1 to tell Ferry's from others (the account inventory)
    sid       = "ReadImportedModelTags"
    effect    = "Allow"
    actions   = ["bedrock:ListTagsForResource"]
    resources = ["arn:aws:bedrock:${var.region}:${var.hosting_account_id}:imported-model/*"]
  }
  statement {
    # reads from CloudWatch when each imported model was last invoked (AWS/Bedrock Invocations; the action takes no resource ARN)
    sid       = "ReadModelInvocations"
    effect    = "Allow"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }
  statement {
    # reads Bedrock's quotas for this account in us-east-1 from Service Quotas (the account inventory)
    sid       = "ReadBedrockQuotas"
    effect    = "Allow"
    actions   = ["servicequotas:GetServiceQuota"]
    resources = ["arn:aws:servicequotas:${var.region}:${var.hosting_account_id}:bedrock/*"]
  }
  statement {
    # reads the SageMaker model packages of research account 111122223333 at submit (DescribeModelPackage; each package group's policy must share them)
    sid       = "ReadModelRegistry"
    effect    = "Allow"
    actions   = ["sagemaker:DescribeModelPackage"]
    resources = ["arn:aws:sagemaker:${var.region}:${var.research_account_id}:model-package/*"]
  }
}

# The trust (assume role) policy of Ferry's control role arn:aws:iam::777788889999:role/FerryControlRole-777788889999.
data "aws_iam_policy_document" "control_role_trust_policy" {
  statement {
    # lets Ferry's principal arn:aws:iam::777788889999:root assume the control role
    sid       = "FerryService"
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${var.hosting_account_id}:root"]
    }
  }
}

resource "aws_iam_role" "control_role" {
  name               = var.control_role_name
  path               = "/"
  description        = "Ferry's control role: submits and tracks Bedrock import jobs, preflights the execution role"
  assume_role_policy = data.aws_iam_policy_document.control_role_trust_policy.json
}

resource "aws_iam_role_policy" "control_role" {
  name   = "FerryControlPolicy"
  role   = aws_iam_role.control_role.id
  policy = data.aws_iam_policy_document.control_role_policy.json
}

resource "aws_iam_role" "execution_role" {
  name               = var.execution_role_name
  path               = "/"
  description        = "IAM execution role to be used by CMI jobs (Bedrock reads the model artifacts with it)"
  assume_role_policy = data.aws_iam_policy_document.trust_policy.json
  # The trust policy names the other role: IAM rejects a principal that does not exist yet.
  depends_on         = [aws_iam_role.control_role]
}

resource "aws_iam_role_policy" "execution_role" {
  name   = "BedrockCMIExecutionPolicy"
  role   = aws_iam_role.execution_role.id
  policy = data.aws_iam_policy_document.execution_role_policy.json
}

output "execution_role_arn" {
  description = "roleArn of the import jobs"
  value       = aws_iam_role.execution_role.arn
}

output "control_role_arn" {
  description = "control_role_arn in Ferry's configuration"
  value       = aws_iam_role.control_role.arn
}

output "hosting_key_policy" {
  description = "Add this statement to the key policy of arn:aws:kms:us-east-1:777788889999:key/0f1e2d3c-7777-4888-8999-777788889999 in account 777788889999 (walkthrough step 4)."
  value       = data.aws_iam_policy_document.hosting_key_policy.json
}

