# Rendered by `ferry policy render --format terraform`; regenerate rather than edit.
# Research account 111122223333 side of the Bedrock import chain for environment prod (hosting account 777788889999). The bucket policy resource replaces the bucket's policy: merge existing statements first. Key policy and model package group policy statements are outputs to add to those policies.

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
  allowed_account_ids = [var.research_account_id]
}

# Add these statements to the bucket policy of model-artifacts-111122223333 in account 111122223333 (walkthrough step 1).
data "aws_iam_policy_document" "bucket_policy_model_artifacts_111122223333" {
  statement {
    # lets Bedrock's execution role list s3://model-artifacts-111122223333/ (ListObjectsV2 is s3:ListBucket)
    sid       = "FerryImportList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = ["arn:aws:s3:::${var.source_bucket}"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${var.hosting_account_id}:role/${var.execution_role_name}"]
    }
  }
  statement {
    # lets Bedrock's execution role read the artifacts under s3://model-artifacts-111122223333/
    sid       = "FerryImportRead"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["arn:aws:s3:::${var.source_bucket}/*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${var.hosting_account_id}:role/${var.execution_role_name}"]
    }
  }
}

resource "aws_s3_bucket_policy" "bucket_policy_model_artifacts_111122223333" {
  bucket = "${var.source_bucket}"
  policy = data.aws_iam_policy_document.bucket_policy_model_artifacts_111122223333.json
}

# Add this statement to the key policy of arn:aws:kms:us-east-1:111122223333:key/0f1e2d3c-1111-4222-8333-111122223333 in account 111122223333 (walkthrough step 3).
data "aws_iam_policy_document" "source_key_policy_0f1e2d3c_1111_4222_8333_111122223333" {
  statement {
    # lets the hosting execution role arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999 decrypt the model artifacts
    sid       = "AllowHostingExecutionRoleDecrypt"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${var.hosting_account_id}:role/${var.execution_role_name}"]
    }
  }
}

output "source_key_policy_0f1e2d3c_1111_4222_8333_111122223333" {
  description = "Add this statement to the key policy of arn:aws:kms:us-east-1:111122223333:key/0f1e2d3c-1111-4222-8333-111122223333 in account 111122223333 (walkthrough step 3)."
  value       = data.aws_iam_policy_document.source_key_policy_0f1e2d3c_1111_4222_8333_111122223333.json
}

# The model package group policy (PutModelPackageGroupPolicy) of each group whose packages Ferry imports, in account 111122223333: merge into the group's policy.
data "aws_iam_policy_document" "model_package_group_policy_111122223333" {
  statement {
    # lets Ferry's control role arn:aws:iam::777788889999:role/FerryControlRole-777788889999 read this group's model packages at submit (DescribeModelPackage)
    sid       = "FerryReadsModelPackages"
    effect    = "Allow"
    actions   = ["sagemaker:DescribeModelPackage"]
    resources = ["arn:aws:sagemaker:${var.region}:${var.research_account_id}:model-package/*/*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${var.hosting_account_id}:role/${var.control_role_name}"]
    }
  }
}

output "model_package_group_policy_111122223333" {
  description = "The model package group policy (PutModelPackageGroupPolicy) of each group whose packages Ferry imports, in account 111122223333: merge into the group's policy."
  value       = data.aws_iam_policy_document.model_package_group_policy_111122223333.json
}

