//! Block codecs: timestamps and values of one series, compressed.
