//! Which member of a pool a request goes to: a pure function of what the
//! pool knows of its members at that moment, so that it can be tested
//! against a model without sockets or clocks.

/// How requests are spread over a pool's usable members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Each member in turn (nginx's default, Envoy's `ROUND_ROBIN`).
    #[default]
    RoundRobin,
    /// The member with the fewest requests waiting for a response head;
    /// ties in turn from the cursor (nginx `least_conn`, Envoy
    /// `LEAST_REQUEST` without the random choice).
    LeastConnections,
}

/// What the balancer sees of one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// Neither ejected nor marked down by the health checks.
    pub usable: bool,
    /// Requests sent to it still waiting for their response head.
    pub in_flight: u32,
    /// When it last became unusable (any monotonic count, higher is
    /// later); only compared among unusable members.
    pub down_since: u64,
}

/// The member a request goes to, given the members (at most 64), a cursor
/// that advances once per pick (the round-robin turn), the members this
/// request has already tried (bit `i` for member `i`), and the policy.
///
/// Among usable members not tried yet: for round robin the first at or
/// after `cursor` (modulo the pool's size); for least connections the one
/// with the fewest in flight, ties broken the same way. When no usable
/// member is left untried, the untried one that became unusable longest
/// ago, so that a pool whose members are all down still tries one rather
/// than failing without trying (as nginx does). `None` when every member
/// has been tried.
pub fn pick(policy: Balance, members: &[MemberView], cursor: usize, tried: u64) -> Option<usize> {
    let count = members.len().min(64);
    if count == 0 {
        return None;
    }
    let start = cursor % count;
    let in_turn = (0..count).map(|step| (start + step) % count);
    let untried = |index: &usize| tried & (1 << index) == 0;
    let usable = in_turn.clone().filter(untried).filter(|&i| members[i].usable);
    let chosen = match policy {
        Balance::RoundRobin => usable.into_iter().next(),
        // `min_by_key` keeps the first of equal keys: the earliest in turn.
        Balance::LeastConnections => usable.min_by_key(|&i| members[i].in_flight),
    };
    chosen.or_else(|| in_turn.filter(untried).min_by_key(|&i| members[i].down_since))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;

    fn up(in_flight: u32) -> MemberView {
        MemberView {
            usable: true,
            in_flight,
            down_since: 0,
        }
    }

    fn down(since: u64) -> MemberView {
        MemberView {
            usable: false,
            in_flight: 0,
            down_since: since,
        }
    }

    /// A case: its name, the policy, the members, the cursor, the members
    /// tried, and the pick.
    type Case<'a> = (&'a str, Balance, &'a [MemberView], usize, u64, Option<usize>);

    #[test]
    fn table() {
        use Balance::{LeastConnections as Least, RoundRobin as Round};
        let cases: &[Case<'_>] = &[
            ("empty pool", Round, &[], 0, 0, None),
            ("one member", Round, &[up(0)], 7, 0, Some(0)),
            ("turn 0", Round, &[up(0), up(0), up(0)], 0, 0, Some(0)),
            ("turn 1", Round, &[up(0), up(0), up(0)], 1, 0, Some(1)),
            ("turn wraps", Round, &[up(0), up(0), up(0)], 5, 0, Some(2)),
            (
                "skips the down one",
                Round,
                &[up(0), down(1), up(0)],
                1,
                0,
                Some(2),
            ),
            (
                "skips the tried one",
                Round,
                &[up(0), up(0), up(0)],
                1,
                0b010,
                Some(2),
            ),
            (
                "wraps past tried",
                Round,
                &[up(0), up(0), up(0)],
                2,
                0b100,
                Some(0),
            ),
            ("all tried", Round, &[up(0), up(0)], 0, 0b11, None),
            (
                "all down: longest down",
                Round,
                &[down(5), down(2), down(9)],
                0,
                0,
                Some(1),
            ),
            (
                "all down, that one tried",
                Round,
                &[down(5), down(2), down(9)],
                0,
                0b010,
                Some(0),
            ),
            (
                "usable tried, down untried",
                Round,
                &[up(0), down(3)],
                0,
                0b01,
                Some(1),
            ),
            ("least: idle wins", Least, &[up(3), up(0), up(1)], 0, 0, Some(1)),
            ("least: tie in turn", Least, &[up(1), up(1), up(1)], 2, 0, Some(2)),
            (
                "least: busy but only usable",
                Least,
                &[up(9), down(1)],
                1,
                0,
                Some(0),
            ),
            ("least: idle one tried", Least, &[up(3), up(0)], 0, 0b10, Some(0)),
        ];
        for (name, policy, members, cursor, tried, expected) in cases {
            assert_eq!(pick(*policy, members, *cursor, *tried), *expected, "{name}");
        }
    }

    /// The rules as plainly as they can be said.
    fn model(policy: Balance, members: &[MemberView], cursor: usize, tried: u64) -> Option<usize> {
        if members.is_empty() {
            return None;
        }
        let n = members.len();
        let mut order = Vec::new();
        for step in 0..n {
            order.push((cursor % n + step) % n);
        }
        let untried: Vec<usize> = order.into_iter().filter(|i| tried & (1 << i) == 0).collect();
        let usable: Vec<usize> = untried.iter().copied().filter(|&i| members[i].usable).collect();
        if !usable.is_empty() {
            return Some(match policy {
                Balance::RoundRobin => usable[0],
                Balance::LeastConnections => {
                    let least = usable.iter().map(|&i| members[i].in_flight).min().unwrap();
                    *usable.iter().find(|&&i| members[i].in_flight == least).unwrap()
                }
            });
        }
        let earliest = untried.iter().map(|&i| members[i].down_since).min()?;
        untried.into_iter().find(|&i| members[i].down_since == earliest)
    }

    fn member() -> impl Strategy<Value = MemberView> {
        (any::<bool>(), 0u32..4, 0u64..4).prop_map(|(usable, in_flight, down_since)| MemberView {
            usable,
            in_flight,
            down_since,
        })
    }

    proptest! {
        #[test]
        fn agrees_with_the_model(
            members in proptest::collection::vec(member(), 0..10),
            cursor in any::<usize>(),
            tried in any::<u64>(),
            least in any::<bool>(),
        ) {
            let policy = if least { Balance::LeastConnections } else { Balance::RoundRobin };
            let picked = pick(policy, &members, cursor, tried);
            prop_assert_eq!(picked, model(policy, &members, cursor, tried));
            if let Some(index) = picked {
                prop_assert!(tried & (1 << index) == 0, "never a member already tried");
            }
        }
    }
}
