# One bucket, three prefixes: data/ (pipeline input), models/ (MODEL_STORE_URI, pushed SavedModels),
# mlflow-artifacts/ (MLflow's artifact proxy). Private, versioned, encrypted with its own KMS key, TLS only.

data "aws_caller_identity" "current" {}

# The key policy written out instead of left to AWS's default: the account administers the key, and only
# IAM policies of the account grant its use (the IRSA roles' UseBucketKey); nobody outside the account.
# In a key policy, Resource "*" means this key.
resource "aws_kms_key" "artifacts" {
  description             = "tabular-mlops artifacts bucket ${var.bucket_name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersAndDelegatesToIAM"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_s3_bucket" "artifacts" {
  # checkov:skip=CKV_AWS_18:Server access logs need a second bucket this module would have to secure and expire too; CloudTrail data events record the same access, centrally. Add aws_s3_bucket_logging to your log bucket if your organisation collects S3 server logs.
  # checkov:skip=CKV_AWS_144:Versioning keeps every overwritten or deleted object for var.noncurrent_version_days; a cross-region replica (a second bucket, KMS key and IAM role in another region) is a disaster-recovery choice left to the deployer.
  bucket = var.bucket_name
}

# Object events go to EventBridge, where a rule can, for example, start a pipeline run when new data lands
# under data/. Nothing is delivered (or billed) until such a rule exists.
resource "aws_s3_bucket_notification" "artifacts" {
  bucket      = aws_s3_bucket.artifacts.id
  eventbridge = true
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.artifacts.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}
