variable "region" {
  description = "AWS region of the EKS cluster and the bucket."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region, e.g. eu-west-1."
  }
}

variable "cluster_name" {
  description = "Name of the existing EKS cluster the node groups join."
  type        = string

  validation {
    condition     = can(regex("^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$", var.cluster_name))
    error_message = "cluster_name must be 1-100 letters, digits, '-' or '_', starting with a letter or digit."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the node groups (at least two availability zones for the CPU pool)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "subnet_ids needs at least two subnet IDs of the form subnet-0123456789abcdef0."
  }
}

variable "gpu_instance_types" {
  description = "Instance types of the GPU node group, all from families the EKS AL2023 x86_64 NVIDIA AMI supports."
  type        = list(string)
  default     = ["g5.xlarge", "g6.xlarge"]

  validation {
    condition = length(var.gpu_instance_types) > 0 && alltrue([
      for type in var.gpu_instance_types :
      can(regex("^(g4dn|g5|g6|g6e|g6f|gr6|gr6f|g7e|p3|p3dn|p4d|p4de|p5|p5e|p5en|p6-b200|p6-b300)\\.[0-9a-z]+$", type))
    ])
    error_message = "gpu_instance_types must be non-empty NVIDIA GPU types (g4dn, g5, g6, g6e, g6f, gr6, gr6f, g7e, p3, p3dn, p4d, p4de, p5, p5e, p5en, p6-b200, p6-b300)."
  }
}

variable "gpu_capacity_type" {
  description = "ON_DEMAND, or SPOT for cheaper, interruptible training nodes."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.gpu_capacity_type)
    error_message = "gpu_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "gpu_max_size" {
  description = "Most GPU nodes the autoscaler may start. The pool's minimum and initial size are zero."
  type        = number
  default     = 2

  validation {
    condition     = var.gpu_max_size >= 1 && var.gpu_max_size <= 100 && floor(var.gpu_max_size) == var.gpu_max_size
    error_message = "gpu_max_size must be a whole number from 1 to 100."
  }
}

variable "gpu_disk_size_gib" {
  description = "Root volume of a GPU node; CUDA images are large."
  type        = number
  default     = 100

  validation {
    condition     = var.gpu_disk_size_gib >= 50 && var.gpu_disk_size_gib <= 16384
    error_message = "gpu_disk_size_gib must be at least 50 (the trainer image alone is several GiB)."
  }
}

variable "cpu_instance_types" {
  description = "Instance types of the CPU node group (KFP, MLflow, the CPU pipeline steps)."
  type        = list(string)
  default     = ["m6i.xlarge"]

  validation {
    condition     = length(var.cpu_instance_types) > 0 && alltrue([for type in var.cpu_instance_types : can(regex("^[a-z][a-z0-9-]*\\.[0-9a-z]+$", type))])
    error_message = "cpu_instance_types must be a non-empty list of EC2 instance types, e.g. m6i.xlarge."
  }
}

variable "cpu_min_size" {
  description = "Fewest CPU nodes (KFP and MLflow must always have a home)."
  type        = number
  default     = 2

  validation {
    condition     = var.cpu_min_size >= 1 && floor(var.cpu_min_size) == var.cpu_min_size
    error_message = "cpu_min_size must be a whole number, at least 1."
  }
}

variable "cpu_max_size" {
  description = "Most CPU nodes the autoscaler may start."
  type        = number
  default     = 6

  validation {
    condition     = var.cpu_max_size >= 1 && var.cpu_max_size <= 100 && floor(var.cpu_max_size) == var.cpu_max_size
    error_message = "cpu_max_size must be a whole number from 1 to 100."
  }
}

variable "bucket_name" {
  description = "S3 bucket for pipeline data, pushed models and MLflow artifacts (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !can(regex("\\.\\.|^xn--|-s3alias$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, '.' or '-'."
  }
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object version is kept before it expires."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = { project = "tabular-mlops" }
}
