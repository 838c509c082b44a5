//! Tests of the Client.
