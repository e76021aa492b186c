#![allow(missing_docs)]
//! Address parse/print, and the hand parser against an equivalent `nom` parser (the measurement
//! behind the choice recorded in docs/decisions.md).

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use ms_core::MultiAddress;

const KEY: &str = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";

fn typical() -> String {
    format!(
        "net:wx.larpa.net:8008~shs:{KEY};wss://wx.larpa.net~shs:{KEY};unix:/home/u/.ssb/socket~noauth"
    )
}

/// The same grammar written with nom combinators: split alternatives on `;`, sections on
/// unescaped `~`, unescape `!x`. Only for comparison; not part of the library.
mod with_nom {
    use nom::IResult;
    use nom::Parser;
    use nom::branch::alt;
    use nom::bytes::complete::{is_not, tag};
    use nom::character::complete::{anychar, char};
    use nom::combinator::map;
    use nom::multi::{many1, separated_list1};
    use nom::sequence::preceded;

    fn piece(input: &str) -> IResult<&str, String> {
        alt((
            map(preceded(char('!'), anychar), |c| c.to_string()),
            map(is_not("!~;"), str::to_owned),
        ))
        .parse(input)
    }

    fn section(input: &str) -> IResult<&str, String> {
        map(many1(piece), |parts| parts.concat()).parse(input)
    }

    fn address(input: &str) -> IResult<&str, Vec<String>> {
        separated_list1(tag("~"), section).parse(input)
    }

    pub fn multi(input: &str) -> Option<Vec<Vec<String>>> {
        match separated_list1(tag(";"), address).parse(input) {
            Ok(("", parsed)) => Some(parsed),
            _ => None,
        }
    }
}

fn bench(c: &mut Criterion) {
    let text = typical();
    let parsed = MultiAddress::parse(&text).unwrap();
    assert_eq!(with_nom::multi(&text).map(|m| m.len()), Some(3));
    c.bench_function("address/parse (hand parser)", |b| {
        b.iter(|| MultiAddress::parse(black_box(&text)).unwrap())
    });
    c.bench_function("address/parse (nom, same grammar)", |b| {
        b.iter(|| with_nom::multi(black_box(&text)).unwrap())
    });
    c.bench_function("address/print", |b| {
        b.iter(|| black_box(&parsed).to_string())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
