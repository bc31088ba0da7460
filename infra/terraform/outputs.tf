# What the pipeline settings and the eks overlay need (infra/scripts/eks-settings.sh reads these).

output "bucket_name" {
  description = "The artifacts bucket."
  value       = aws_s3_bucket.artifacts.id
}

output "data_uri_prefix" {
  description = "Where to upload pipeline input: DATA_URI=<this>/<file>.csv"
  value       = "s3://${aws_s3_bucket.artifacts.id}/data"
}

output "model_store_uri" {
  description = "MODEL_STORE_URI for pipeline runs."
  value       = "s3://${aws_s3_bucket.artifacts.id}/models"
}

output "mlflow_artifacts_destination" {
  description = "MLflow's --artifacts-destination (MLFLOW_ARTIFACTS_DESTINATION in the eks overlay)."
  value       = "s3://${aws_s3_bucket.artifacts.id}/mlflow-artifacts"
}

output "pipeline_role_arn" {
  description = "IRSA role of ServiceAccount kubeflow/tabular-mlops-pipeline."
  value       = aws_iam_role.irsa["pipeline"].arn
}

output "mlflow_role_arn" {
  description = "IRSA role of ServiceAccount tabular-mlops/mlflow."
  value       = aws_iam_role.irsa["mlflow"].arn
}

output "gpu_node_group" {
  description = "Name of the GPU managed node group."
  value       = aws_eks_node_group.gpu.node_group_name
}

output "cpu_node_group" {
  description = "Name of the CPU managed node group."
  value       = aws_eks_node_group.cpu.node_group_name
}

output "region" {
  description = "AWS region (AWS_DEFAULT_REGION for clients)."
  value       = var.region
}
