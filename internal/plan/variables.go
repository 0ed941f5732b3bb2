package plan

import "maps"

// WithVariables returns a shallow copy of d whose variables are d's own,
// overridden by each layer in turn, lowest precedence first: for a run,
// the environment's variables and then the execution's. Only the names that
// d declares are taken from a layer; other names are ignored, since no
// template of d can refer to them. d is not changed.
func (d *Document) WithVariables(layers ...map[string]string) *Document {
	out := *d
	out.Variables = maps.Clone(d.Variables)
	for _, layer := range layers {
		for name, value := range layer {
			if _, declared := d.Variables[name]; declared {
				out.Variables[name] = value
			}
		}
	}
	return &out
}

// ValidateVariables checks a set of variables by the rules of a document's
// variables: at most MaxVariables, names that match ^[A-Za-z_][A-Za-z0-9_]*$
// and are at most MaxNameLength long, values that are valid UTF-8 without
// NUL. Each problem is located at loc followed by the variable's name. It
// returns nil or a *ValidationError.
func ValidateVariables(loc string, vars map[string]string) error {
	v := &validator{}
	v.variables(loc, vars)
	if len(v.errs) > 0 {
		return &ValidationError{Errors: v.errs}
	}
	return nil
}
