#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Whether it decoded matters to the replay test only.
    let _ = cairn_model::fuzz::definition(data);
});
