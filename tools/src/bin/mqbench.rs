//! `mqbench`: the benchmark tool (`mqbench produce|consume|e2e`, `mqbench --help`); everything
//! lives in `tools::bench`. Exit code 0 done, 1 runtime failure, 2 bad flags.

fn main() {
    std::process::exit(tools::bench::main());
}
