# Two managed node groups. Labels and the GPU taint are the contract of components/common/cluster.py
# (the train task selects tabular-mlops.io/node-pool=gpu and tolerates nvidia.com/gpu=present:NoSchedule);
# tests/infra reads these literals and compares them with it.

resource "aws_iam_role" "node" {
  name_prefix = "tabular-mlops-node-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
  ])
  role       = aws_iam_role.node.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/${each.value}"
}

# IMDSv2 only, one hop: pods cannot borrow the node role (they get their own through IRSA);
# encrypted root volumes.
resource "aws_launch_template" "node" {
  for_each = {
    cpu = 50
    gpu = var.gpu_disk_size_gib
  }
  name_prefix            = "tabular-mlops-${each.key}-"
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = each.value
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }
}

resource "aws_eks_node_group" "cpu" {
  cluster_name           = var.cluster_name
  node_group_name_prefix = "tabular-mlops-cpu-"
  node_role_arn          = aws_iam_role.node.arn
  subnet_ids             = var.subnet_ids
  ami_type               = "AL2023_x86_64_STANDARD"
  capacity_type          = "ON_DEMAND"
  instance_types         = var.cpu_instance_types

  scaling_config {
    min_size     = var.cpu_min_size
    desired_size = var.cpu_min_size
    max_size     = var.cpu_max_size
  }

  update_config {
    max_unavailable = 1
  }

  launch_template {
    id      = aws_launch_template.node["cpu"].id
    version = aws_launch_template.node["cpu"].latest_version
  }

  labels = {
    "tabular-mlops.io/node-pool" = "cpu"
  }

  lifecycle {
    create_before_destroy = true
    ignore_changes        = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}

# Scales from zero: no GPU node runs (or costs) until a train pod is pending.
resource "aws_eks_node_group" "gpu" {
  cluster_name           = var.cluster_name
  node_group_name_prefix = "tabular-mlops-gpu-"
  node_role_arn          = aws_iam_role.node.arn
  subnet_ids             = var.subnet_ids
  ami_type               = "AL2023_x86_64_NVIDIA"
  capacity_type          = var.gpu_capacity_type
  instance_types         = var.gpu_instance_types

  scaling_config {
    min_size     = 0
    desired_size = 0
    max_size     = var.gpu_max_size
  }

  update_config {
    max_unavailable = 1
  }

  launch_template {
    id      = aws_launch_template.node["gpu"].id
    version = aws_launch_template.node["gpu"].latest_version
  }

  labels = {
    "tabular-mlops.io/node-pool" = "gpu"
  }

  taint {
    key    = "nvidia.com/gpu"
    value  = "present"
    effect = "NO_SCHEDULE"
  }

  lifecycle {
    create_before_destroy = true
    # The cluster autoscaler owns the node count.
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}

# With no GPU node running, the cluster autoscaler learns what a new one would carry from these tags on
# the node group's Auto Scaling group (EKS does not copy labels and taints there itself). It infers the
# GPU count from the instance type. EKS already adds k8s.io/cluster-autoscaler/enabled and /<cluster>.
resource "aws_autoscaling_group_tag" "gpu_node_template" {
  for_each = {
    "k8s.io/cluster-autoscaler/node-template/label/tabular-mlops.io/node-pool" = "gpu"
    "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"             = "present:NoSchedule"
  }
  autoscaling_group_name = aws_eks_node_group.gpu.resources[0].autoscaling_groups[0].name

  tag {
    key                 = each.key
    value               = each.value
    propagate_at_launch = false
  }
}
