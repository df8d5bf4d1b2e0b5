package native

// CountCopies starts counting the body copies the package makes and returns a function that
// reports how many it made since.
func CountCopies() func() uint64 {
	countingCopies.Store(true)
	start := copies.Load()
	return func() uint64 { return copies.Load() - start }
}
