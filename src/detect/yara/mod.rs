//! YARA over files extracted from traffic and over watched directories, with
//! hash caching so that a file is scanned once.
//!
//! Empty for now. The scanner will sit behind one small interface so that
//! `yara` (libyara) can later be swapped for `yara-x`.
