# GPU and CPU node groups for an existing EKS cluster, the S3 bucket for data, models and MLflow artifacts,
# and the IAM roles the pipeline and MLflow assume through IRSA. The Kubernetes side is infra/k8s/overlays/eks.

data "aws_partition" "current" {}

data "aws_eks_cluster" "this" {
  name = var.cluster_name
}

data "aws_iam_openid_connect_provider" "cluster" {
  url = data.aws_eks_cluster.this.identity[0].oidc[0].issuer
}

locals {
  oidc_issuer = trimprefix(data.aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://")
  bucket_arn  = "arn:${data.aws_partition.current.partition}:s3:::${var.bucket_name}"
}
