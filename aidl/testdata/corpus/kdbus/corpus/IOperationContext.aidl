package kdbus.corpus;

/** An interface without methods: an object passed around to name a context. */
interface IOperationContext {}
