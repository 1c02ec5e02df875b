package sink

// SetOpenat2 switches between openat2 and the per-component fallback.
func SetOpenat2(on bool) (restore func()) {
	old := noOpenat2.Load()
	noOpenat2.Store(!on)
	return func() { noOpenat2.Store(old) }
}
