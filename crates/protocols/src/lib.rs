//! Wire formats: every decoder turns bytes into [`tidemark_model::TimeSeries`] batches
//! and never panics on bad input; every error is a [`DecodeError`] with a clear reason.
