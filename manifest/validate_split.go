package manifest

// ValidateObjects runs the checks of Validate that look at one object at a
// time (names, labels, required fields, ports, volumes, selectors) and
// returns their errors, unsorted. An object's result depends on nothing
// but the object and its Source, so a caller may keep it for as long as
// the object's source text is unchanged (gitsync caches it by file and
// blob hash) and pass it to ValidateSet.
func ValidateObjects(objs []Decoded) ErrorList {
	var errs ErrorList
	for i := range objs {
		errs = append(errs, validateObject(&objs[i])...)
	}
	return errs
}

// ValidateSet runs the checks of Validate that span objects (duplicates,
// namespaces, references, port and address clashes, Pod Security levels of
// namespaces) on the whole set objs, adds objectErrs (what ValidateObjects
// returned for the same objects, possibly cached) and returns nil or an
// ErrorList sorted by file and line: Validate(objs) is
// ValidateSet(objs, ValidateObjects(objs)).
func ValidateSet(objs []Decoded, objectErrs ErrorList) error {
	errs := append(ErrorList(nil), objectErrs...)
	errs = append(errs, validateSet(objs)...)
	errs = append(errs, validatePodSecurity(objs)...)
	errs = append(errs, validateEndpointsOwners(objs)...)
	return sortErrors(errs).errOrNil()
}
