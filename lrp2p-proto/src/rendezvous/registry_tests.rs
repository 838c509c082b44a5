//! Tests of the Registry.
