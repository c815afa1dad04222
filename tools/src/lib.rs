//! `tools`: the operator commands `mqadmin` and `mqbench` (issue 8). Empty until they land.
