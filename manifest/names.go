package manifest

// ShortName returns kind's short resource name ("po" for Pod), or "" when it
// has none.
func ShortName(kind string) string { return shortNames[kind] }
