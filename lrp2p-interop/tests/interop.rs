//! Each adapter talks to the other two over loopback, as dialer and as acceptor: for every
//! ordered pair, an IK connect with 0-RTT data and a few MiB each way at once (verified by
//! hash, each side half-closing after its stream), an XX exchange, and the application
//! protocol id (PROTOCOL.md §7.7) sent over IK and XX and read on the other side.

mod common;

use common::{AsyncStd, Std, Tokio, app_protocol_exchange, bounded, ik_bulk_both_ways, xx_exchange};

/// The scenarios for one ordered pair: `$dialer` connects to `$acceptor`.
macro_rules! pair {
    ($name:ident: $dialer:ty => $acceptor:ty) => {
        mod $name {
            use super::*;

            #[test]
            fn ik_0rtt_bulk_both_ways_half_close() {
                bounded(concat!(stringify!($name), " IK bulk"), ik_bulk_both_ways::<$dialer, $acceptor>);
            }

            #[test]
            fn xx_exchange() {
                bounded(concat!(stringify!($name), " XX"), super::xx_exchange::<$dialer, $acceptor>);
            }

            #[test]
            fn app_protocol_exchange() {
                bounded(
                    concat!(stringify!($name), " id"),
                    super::app_protocol_exchange::<$dialer, $acceptor>,
                );
            }
        }
    };
}

pair!(std_to_tokio: Std => Tokio);
pair!(tokio_to_std: Tokio => Std);
pair!(std_to_async_std: Std => AsyncStd);
pair!(async_std_to_std: AsyncStd => Std);
pair!(tokio_to_async_std: Tokio => AsyncStd);
pair!(async_std_to_tokio: AsyncStd => Tokio);
