package plan

import (
	"slices"
	"strings"
)

// SecretNames returns the names of the secrets that the document's
// templates reference as {{secret.NAME}}, each once, sorted. Templates that
// do not parse are skipped: Validate reports them.
func (d *Document) SecretNames() []string {
	var names []string
	add := func(refs []string, err error) {
		if err != nil {
			return
		}
		for _, ref := range refs {
			if name, ok := strings.CutPrefix(ref, SecretPrefix); ok && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	for i := range d.Steps {
		r := &d.Steps[i].Request
		add(References(r.URL))
		for _, value := range r.Headers {
			add(References(value))
		}
		if !r.Body.IsEmpty() {
			add(r.Body.References())
		}
	}
	slices.Sort(names)
	return names
}
