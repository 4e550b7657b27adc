//! The core reads no clock. Its clippy.toml bans `SystemTime::now` and
//! friends; a misspelled path there would only warn that it is unreachable,
//! so this test uses the banned method under `#[expect]`: if the ban ever
//! stops firing, the unfulfilled expectation fails `clippy -D warnings`.

use std::time::SystemTime;

use revalidate_core::HttpDate;

#[test]
#[expect(clippy::disallowed_methods, reason = "proves the sans-IO clock ban is active")]
fn clock_ban_is_enforced_by_clippy() {
    let now = HttpDate::from_system_time(SystemTime::now()).unwrap();
    assert!(now > HttpDate::UNIX_EPOCH);
}
