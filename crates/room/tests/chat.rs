//! Chat, hands and reactions in virtual time through the in-memory SFU: who gets what, private
//! messages reach their addressee alone, limits hold, and nothing reaches someone without the
//! room secret.

mod sim;

use std::time::Duration;

use conclave_room::meeting::{ChatMessage, Command, Event, NotSent};
use sim::Sim;

const S: Duration = Duration::from_secs(1);

fn chats(sim: &Sim, i: usize) -> Vec<ChatMessage> {
    sim.people[i]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Chat(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn settled(sim: &Sim, who: &[usize]) -> bool {
    Sim::pairs(who).iter().all(|&(i, j)| {
        sim.id_of(i, j)
            .and_then(|id| sim.people[i].meeting.participant(id))
            .is_some_and(|p| p.is_verified() && p.name.is_some())
    })
}

#[test]
fn messages_to_everyone_and_to_one_reach_whom_they_should() {
    let mut sim = Sim::new(31);
    let a = sim.join("alice");
    let b = sim.join("bob");
    let c = sim.join("carol");
    let x = sim.join_as("mallory", "p-mallory", b"another secret, another room key!");
    assert!(sim.run_until(5 * S, |s| settled(s, &[a, b, c])));
    sim.run_for(S);
    let code = |sim: &Sim, i: usize| sim.people[i].meeting.group_code().cloned();
    let before = code(&sim, a);
    assert!(before.is_some());

    sim.command(
        a,
        Command::Chat {
            to: None,
            text: "Hallo <b>alle</b>".into(),
        },
    );
    let bob = sim.id_of(a, b).unwrap();
    sim.command(
        a,
        Command::Chat {
            to: Some(bob),
            text: "nur für Bob".into(),
        },
    );
    sim.run_for(S);

    assert_eq!(code(&sim, a), before, "chat does not touch the group code");
    let alice_at_b = sim.id_of(b, a).unwrap();
    let at_b = chats(&sim, b);
    assert_eq!(at_b.len(), 2, "{at_b:?}");
    assert_eq!(at_b[0].from, Some(alice_at_b));
    assert_eq!(at_b[0].name.as_deref(), Some("alice"));
    assert!(at_b[0].verified && !at_b[0].private);
    assert_eq!(at_b[0].text, "Hallo <b>alle</b>");
    assert!(at_b[1].private && at_b[1].text == "nur für Bob");
    let at_c = chats(&sim, c);
    assert_eq!(
        at_c.len(),
        1,
        "carol gets only the message to all: {at_c:?}"
    );
    assert!(chats(&sim, x).is_empty(), "without the secret, nothing");
    // Alice sees both of hers go out.
    let own = chats(&sim, a);
    assert_eq!(own.len(), 2);
    assert!(own.iter().all(|m| m.from.is_none()));
    assert_eq!(own[1].to, Some(bob));

    // To someone unverified, or a blank message: said, not sent.
    let mallory = sim.id_of(a, x).unwrap();
    sim.command(
        a,
        Command::Chat {
            to: Some(mallory),
            text: "psst".into(),
        },
    );
    sim.command(
        a,
        Command::Chat {
            to: None,
            text: "   ".into(),
        },
    );
    let refused: Vec<NotSent> = sim.people[a]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ChatNotSent { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(refused, [NotSent::NoChannel, NotSent::Unusable]);
}

#[test]
fn a_flood_is_cut_to_the_limit_and_counted() {
    let mut sim = Sim::new(32);
    let a = sim.join("alice");
    let b = sim.join("bob");
    assert!(sim.run_until(5 * S, |s| settled(s, &[a, b])));
    for n in 0..30 {
        sim.command(
            a,
            Command::Chat {
                to: None,
                text: format!("spam {n}"),
            },
        );
        sim.command(a, Command::React("👍".into()));
    }
    sim.run_for(Duration::from_millis(500));
    let got = chats(&sim, b).len();
    assert_eq!(got, 10, "a burst of ten, then one a second");
    let alice = sim.id_of(b, a).unwrap();
    assert_eq!(
        sim.people[b]
            .meeting
            .participant(alice)
            .unwrap()
            .chat_dropped,
        20
    );
    let reactions = sim.people[b]
        .events
        .iter()
        .filter(|e| matches!(e, Event::Reaction { .. }))
        .count();
    assert!(reactions <= 5, "{reactions} reactions got through");
    // And it recovers: one a second.
    sim.run_for(3 * S);
    sim.command(
        a,
        Command::Chat {
            to: None,
            text: "later".into(),
        },
    );
    sim.run_for(S);
    assert_eq!(chats(&sim, b).last().unwrap().text, "later");
}

#[test]
fn hands_go_up_in_order_and_late_joiners_see_them() {
    let mut sim = Sim::new(33);
    let a = sim.join("alice");
    let b = sim.join("bob");
    let c = sim.join("carol");
    assert!(sim.run_until(5 * S, |s| settled(s, &[a, b, c])));
    sim.command(b, Command::Hand(true));
    sim.run_for(Duration::from_millis(300));
    sim.command(c, Command::Hand(true));
    sim.run_for(S);
    let hand = |sim: &Sim, i: usize, j: usize| {
        sim.people[i]
            .meeting
            .participant(sim.id_of(i, j).unwrap())
            .unwrap()
            .hand
    };
    let (bob, carol) = (hand(&sim, a, b).unwrap(), hand(&sim, a, c).unwrap());
    assert!(bob < carol, "bob's went up first");
    assert!(sim.people[b].meeting.local().hand);
    // Someone joining now sees both hands (hellos carry them).
    let d = sim.join("dave");
    assert!(sim.run_until(5 * S, |s| settled(s, &[a, b, c, d])));
    sim.run_for(3 * S);
    assert!(hand(&sim, d, b).is_some() && hand(&sim, d, c).is_some());
    sim.command(b, Command::Hand(false));
    sim.run_for(S);
    assert_eq!(hand(&sim, a, b), None);
    assert_eq!(hand(&sim, d, b), None);
    assert!(hand(&sim, a, c).is_some());
}
