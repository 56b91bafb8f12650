//! Every recorded case gives AWS's answer: the cases recorded against EventBridge's
//! `TestEventPattern` (`data/aws-cases.json`) and those written from its documentation
//! (`data/doc-cases.json`). Patterns are run one by one and also all together as one
//! compiled rule set (on the event, and on the event read pruned to what the rules look
//! at), which must give each the same answer.

use event_pattern::{Matcher, Pattern};
use serde_json::Value;

struct Outcome {
    total: usize,
    agreed: usize,
    same_message: usize,
    invalid: usize,
    disagreements: Vec<String>,
}

fn run(file: &str) -> Outcome {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let data: Value = serde_json::from_str(&text).expect("the case file is JSON");
    let cases = data["cases"].as_array().expect("a `cases` list");
    let mut outcome = Outcome {
        total: cases.len(),
        agreed: 0,
        same_message: 0,
        invalid: 0,
        disagreements: Vec::new(),
    };
    let mut valid = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("a name");
        let expect = case["expect"].as_str().expect("an expectation");
        // The pattern as text, as AWS received it.
        let text = serde_json::to_string(&case["pattern"]).expect("serializable");
        match (Pattern::parse(&text), expect) {
            (Err(e), "invalid") => {
                outcome.agreed += 1;
                outcome.invalid += 1;
                if case["aws_message"].as_str() == Some(e.to_string().as_str()) {
                    outcome.same_message += 1;
                } else {
                    eprintln!(
                        "{name}: refused, but AWS said {} and we say {e}",
                        case["aws_message"]
                    );
                }
            }
            (Err(e), _) => outcome
                .disagreements
                .push(format!("{name}: expected {expect}, refused: {e}")),
            (Ok(_), "invalid") => outcome.disagreements.push(format!(
                "{name}: AWS refuses it ({}), we accept it",
                case["aws_message"]
            )),
            (Ok(pattern), _) => {
                let matched = pattern.matches(&case["event"]);
                if matched == (expect == "match") {
                    outcome.agreed += 1;
                } else {
                    outcome
                        .disagreements
                        .push(format!("{name}: expected {expect}, got matched={matched}"));
                }
                valid.push((name, pattern, expect == "match", &case["event"]));
            }
        }
    }
    // All valid patterns as one rule set: each event must be matched by its own rule
    // exactly when it is matched alone.
    let matcher = Matcher::new(valid.iter().map(|(_, p, _, _)| p.clone()));
    for (i, (name, _, expected, event)) in valid.iter().enumerate() {
        let together = matcher.matching(event).contains(&i);
        if together != *expected {
            outcome.disagreements.push(format!(
                "{name}: compiled with every other rule, matched={together}"
            ));
        }
        // Read from text keeping only what the rules look at: the same answer.
        let pruned = matcher
            .parse_event(&event.to_string())
            .expect("the event is JSON");
        if matcher.matching(&pruned).contains(&i) != *expected {
            outcome
                .disagreements
                .push(format!("{name}: read pruned, the answer changes"));
        }
    }
    eprintln!(
        "{file}: {}/{} cases agree; {} of {} refusals with AWS's exact message",
        outcome.agreed, outcome.total, outcome.same_message, outcome.invalid
    );
    outcome
}

#[test]
fn every_case_recorded_against_aws_gets_aws_answer() {
    let outcome = run("aws-cases.json");
    assert_eq!(outcome.total, 87, "the recorded corpus has 87 cases");
    assert!(
        outcome.disagreements.is_empty(),
        "disagreements with AWS: {:#?}",
        outcome.disagreements
    );
    assert_eq!(
        outcome.same_message, outcome.invalid,
        "every refusal gives AWS's own message"
    );
}

#[test]
fn every_case_from_the_documentation_gets_its_answer() {
    let outcome = run("doc-cases.json");
    assert!(
        outcome.disagreements.is_empty(),
        "disagreements: {:#?}",
        outcome.disagreements
    );
    assert_eq!(
        outcome.same_message, outcome.invalid,
        "every refusal gives AWS's own message"
    );
}
