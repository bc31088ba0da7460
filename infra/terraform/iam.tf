# IAM roles for service accounts: each trusts exactly one Kubernetes ServiceAccount through the cluster's
# OIDC provider and may touch only its own prefixes of the bucket. The subjects are the contract of
# components/common/cluster.py (pipeline) and infra/k8s/base/mlflow.yaml (MLflow); tests/infra checks both.

locals {
  irsa = {
    pipeline = {
      subject = "system:serviceaccount:kubeflow:tabular-mlops-pipeline"
      # Reads its input, writes pushed models and KFP step outputs (if KFP's pipeline root is this bucket).
      read_prefixes  = ["data", "models", "pipeline-root"]
      write_prefixes = ["models", "pipeline-root"]
    }
    mlflow = {
      subject        = "system:serviceaccount:tabular-mlops:mlflow"
      read_prefixes  = ["mlflow-artifacts"]
      write_prefixes = ["mlflow-artifacts"]
    }
  }
}

data "aws_iam_policy_document" "irsa_trust" {
  for_each = local.irsa

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [data.aws_iam_openid_connect_provider.cluster.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = [each.value.subject]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "irsa_access" {
  for_each = local.irsa

  statement {
    sid       = "ListOwnPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = flatten([for prefix in each.value.read_prefixes : [prefix, "${prefix}/*"]])
    }
  }

  statement {
    sid       = "ReadOwnPrefixes"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [for prefix in each.value.read_prefixes : "${local.bucket_arn}/${prefix}/*"]
  }

  statement {
    sid       = "WriteOwnPrefixes"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [for prefix in each.value.write_prefixes : "${local.bucket_arn}/${prefix}/*"]
  }

  statement {
    sid       = "UseBucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.artifacts.arn]
  }
}

resource "aws_iam_role" "irsa" {
  for_each           = local.irsa
  name               = "tabular-mlops-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust[each.key].json
}

resource "aws_iam_role_policy" "irsa" {
  for_each = local.irsa
  name     = "s3-${each.key}"
  role     = aws_iam_role.irsa[each.key].id
  policy   = data.aws_iam_policy_document.irsa_access[each.key].json
}
