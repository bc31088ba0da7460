"""The words a dataset spec is written in, one concept a module; `components.common.specs.base` gathers them."""
