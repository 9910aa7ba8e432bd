//! Backend selection. The CPU uses burn's flex backend; CUDA is behind the `cuda` cargo
//! feature. burn's CUDA backend only finds out that there is no driver in a worker
//! thread, which panics (and the main thread with it), so the driver is checked here
//! first: libcuda.so.1 must load, `cuInit` succeed and at least one device be visible.

use super::spec::BackendKind;
use super::GanError;

/// The autodiff CPU backend used for training.
pub type CpuTrain = burn::backend::Autodiff<burn::backend::Flex>;
/// The CPU backend used for generation.
pub type Cpu = burn::backend::Flex;

/// Checks that `kind` can run here; the error says what to do.
pub fn check(kind: BackendKind) -> Result<(), GanError> {
    match kind {
        BackendKind::Cpu => Ok(()),
        BackendKind::Cuda => cuda_ready(),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_ready() -> Result<(), GanError> {
    Err(GanError::Backend {
        reason: "this facesynth was built without CUDA support; rebuild it with \
                 `cargo build --release --features cuda` (needs an NVIDIA driver at run time), \
                 or use --backend cpu"
            .into(),
    })
}

#[cfg(feature = "cuda")]
fn cuda_ready() -> Result<(), GanError> {
    let no = |reason: String| Err(GanError::Backend { reason });
    // SAFETY: loading the NVIDIA driver library runs its initialisers, which is what
    // burn's CUDA backend would do next anyway; the symbols have the driver API's C ABI.
    unsafe {
        let lib = match libloading::Library::new("libcuda.so.1") {
            Ok(lib) => lib,
            Err(e) => {
                return no(format!(
                    "no NVIDIA driver found (could not load libcuda.so.1: {e}); \
                     install the driver or use --backend cpu"
                ))
            }
        };
        type Init = unsafe extern "C" fn(u32) -> i32;
        type Count = unsafe extern "C" fn(*mut i32) -> i32;
        let init: libloading::Symbol<Init> = match lib.get(b"cuInit\0") {
            Ok(f) => f,
            Err(e) => return no(format!("libcuda.so.1 has no cuInit: {e}")),
        };
        let rc = init(0);
        if rc != 0 {
            return no(format!(
                "the NVIDIA driver failed to initialise (cuInit error {rc}); is a GPU present? \
                 Use --backend cpu"
            ));
        }
        let count: libloading::Symbol<Count> = match lib.get(b"cuDeviceGetCount\0") {
            Ok(f) => f,
            Err(e) => return no(format!("libcuda.so.1 has no cuDeviceGetCount: {e}")),
        };
        let mut n = 0i32;
        if count(&mut n) != 0 || n < 1 {
            return no("no CUDA device visible; use --backend cpu".into());
        }
        // Kept loaded: the driver is initialised now, and unloading it (dlclose) would
        // unmap code its threads and exit handlers still point at.
        std::mem::forget(lib);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available() {
        assert!(check(BackendKind::Cpu).is_ok());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_in_a_cpu_build_is_a_clear_error() {
        let e = check(BackendKind::Cuda).unwrap_err().to_string();
        assert!(e.contains("--features cuda"), "{e}");
    }
}
