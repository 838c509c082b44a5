//! Static identities: X25519 key pairs and the text form of public keys.
