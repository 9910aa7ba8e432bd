//! Runtime choice of an AVX2 build of a plain loop. The baseline x86-64 target has no
//! 256-bit integer vectors (nor a 32-bit vector multiply), so loops over pixels such as
//! grey conversion and channel sums compile to scalar or 128-bit code; built again with
//! AVX2 enabled, the same source runs 4-6x faster (BENCHMARKS.md, prep, session 18). The
//! choice is made per call from the CPU's features (`is_x86_feature_detected!` caches
//! them), so one binary runs on every x86-64 CPU and on other architectures.

/// Defines `fn NAME(ARGS) -> RET { BODY }` so that, on an x86-64 CPU with AVX2, the body
/// runs compiled for AVX2 and elsewhere as it is. The body must be plain safe Rust; the
/// arguments are `name: Type` pairs.
macro_rules! avx2_or_plain {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn plain($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    plain($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            plain($($arg),*)
        }
    };
}
pub(crate) use avx2_or_plain;
