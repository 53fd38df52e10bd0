//! The gated GPU tier (`just test-gpu`): needs an NVIDIA GPU with the
//! driver, cuBLAS and NVRTC. CI has none; these are `#[ignore]`d there.
#![allow(clippy::unwrap_used)]

use workload::compute::cpu::CpuEngine;
use workload::compute::gpu::{GpuDevice, WaitMode};
use workload::compute::{checksums_agree, reference, Engine, Job, NeverStop};

#[test]
#[ignore = "needs an NVIDIA GPU (just test-gpu)"]
fn gpu_matches_the_reference_and_the_cpu_engine() {
    let dev = GpuDevice::open(0, WaitMode::BlockingSync).unwrap();
    let mut gpu = dev.engine().unwrap();
    let mut cpu = CpuEngine::new(2).unwrap();
    for (size, iterations) in [(1, 1), (33, 5), (64, 20), (256, 10), (1000, 20)] {
        let job = Job {
            size,
            iterations,
            seed: 3,
        };
        let g = gpu.run(&job, &NeverStop).unwrap().checksum;
        let c = cpu.run(&job, &NeverStop).unwrap().checksum;
        assert!(checksums_agree(size, g, c), "n={size}: gpu {g} cpu {c}");
        if size <= 64 {
            let r = reference(&job);
            assert!(
                checksums_agree(size, g, r),
                "n={size}: gpu {g} reference {r}"
            );
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU (just test-gpu)"]
fn gpu_buffers_are_reused_and_results_repeat() {
    let dev = GpuDevice::open(0, WaitMode::Auto).unwrap();
    let mut gpu = dev.engine().unwrap();
    let a = Job {
        size: 500,
        iterations: 3,
        seed: 1,
    };
    let b = Job { size: 300, ..a };
    let first = gpu.run(&a, &NeverStop).unwrap().checksum;
    gpu.run(&b, &NeverStop).unwrap();
    assert_eq!(
        first.to_bits(),
        gpu.run(&a, &NeverStop).unwrap().checksum.to_bits()
    );
}
