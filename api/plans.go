package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/retention"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// Limits on a plan's labels and request body. The limits on name and
// description are the struct tags of PlanBody.
const (
	maxLabels           = 50
	maxLabelKeyLength   = 63
	maxLabelValueLength = 255
	// maxPlanBodyBytes caps the request body of create-plan and update-plan.
	maxPlanBodyBytes = 1 << 20
)

// Labels are a plan's key/value labels: at most 50, keys of 1 to 63
// characters without ':' (the separator of the label filter), values of at
// most 255 characters; neither holds a NUL character.
type Labels map[string]string

// Schema describes Labels. Huma cannot check map keys, so PlanBody.Resolve
// checks them. The key rules are stated in the description rather than as
// propertyNames, which would make the OpenAPI 3.0 downgrade invalid.
func (Labels) Schema(huma.Registry) *huma.Schema {
	maxProps, maxValue := maxLabels, maxLabelValueLength
	value := &huma.Schema{Type: huma.TypeString, MaxLength: &maxValue}
	value.PrecomputeMessages()
	return &huma.Schema{
		Type:                 huma.TypeObject,
		Description:          "Labels: at most 50; keys are 1 to 63 characters without ':', values at most 255 characters; no NUL characters.",
		MaxProperties:        &maxProps,
		AdditionalProperties: value,
	}
}

// check returns an error detail for each label key the schema cannot
// check: empty, longer than 63 characters, or holding ':'. prefix is the
// location of the labels.
func (l Labels) check(prefix *huma.PathBuffer) []error {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		var msg string
		switch n := utf8.RuneCountInString(k); {
		case n == 0:
			msg = "label key must not be empty"
		case n > maxLabelKeyLength:
			msg = fmt.Sprintf("label key must be at most %d characters, is %d", maxLabelKeyLength, n)
		case strings.Contains(k, ":"):
			msg = "label key must not contain ':'"
		case strings.ContainsRune(k, 0):
			msg = "label key " + msgNUL
		default:
			if strings.ContainsRune(l[k], 0) {
				errs = append(errs, &huma.ErrorDetail{Location: prefix.With(k), Message: "label value " + msgNUL, Value: l[k]})
			}
			continue
		}
		errs = append(errs, &huma.ErrorDetail{Location: prefix.With(k), Message: msg, Value: k})
	}
	return errs
}

// msgNUL explains why a text with a NUL character is refused.
const msgNUL = "must not contain the NUL character (U+0000)"

// checkNUL returns an error detail if the text field at location holds a
// NUL character. Postgres cannot store NUL in text, so it is refused on
// every backend alike.
func checkNUL(prefix *huma.PathBuffer, field, value string) []error {
	if !strings.ContainsRune(value, 0) {
		return nil
	}
	return []error{&huma.ErrorDetail{Location: prefix.With(field), Message: field + " " + msgNUL, Value: value}}
}

// PlanBody is the writable part of a plan, sent to create-plan and
// update-plan.
type PlanBody struct {
	Name        string        `json:"name" minLength:"1" maxLength:"200" doc:"Name of the plan, unique among plans. No NUL characters." example:"Checkout smoke test"`
	Description string        `json:"description,omitempty" maxLength:"2000" doc:"What the plan checks. No NUL characters." example:"Creates a cart, adds an item and checks out."`
	Labels      Labels        `json:"labels,omitempty" doc:"Labels to filter plans by: at most 50; keys are 1 to 63 characters without ':', values at most 255 characters; no NUL characters." example:"{\"team\":\"payments\",\"env\":\"staging\"}"`
	Document    plan.Document `json:"document" doc:"The plan document: variables and the steps to run." example:"{\"variables\":{\"base_url\":\"https://api.example.com\"},\"steps\":[{\"name\":\"Health check\",\"request\":{\"method\":\"GET\",\"url\":\"{{base_url}}/health\"},\"assert\":{\"status\":[200]}}]}"`
	Retention   *string       `json:"retention,omitempty" maxLength:"32" doc:"How long this plan's finished executions are kept before they are deleted: a duration of at least 1h such as 720h, or whole days such as 14d; 0 keeps them forever. Omitted, it follows the server's ASTRO_EXECUTION_RETENTION (30d by default); an update without it goes back to that. The 100 newest executions of a plan are kept whatever their age." example:"14d"`
}

// Resolve checks what the schema cannot: the label keys, and that no name,
// description, label key or label value holds a NUL character. Huma runs it
// after parsing the request body and reports its errors with the schema's.
// (Huma runs resolvers on the values of a map, not on the map, so this sits
// on the struct that holds the labels.)
func (b *PlanBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	errs := checkNUL(prefix, "name", b.Name)
	errs = append(errs, checkNUL(prefix, "description", b.Description)...)
	if _, err := b.retention(); err != nil {
		errs = append(errs, &huma.ErrorDetail{Location: prefix.With("retention"), Message: "retention " + err.Error(), Value: *b.Retention})
	}
	prefix.Push("labels")
	defer prefix.Pop()
	return append(errs, b.Labels.check(prefix)...)
}

// retention returns the plan's own retention, or nil for the server's
// default.
func (b *PlanBody) retention() (*time.Duration, error) {
	if b.Retention == nil {
		return nil, nil
	}
	d, err := retention.Parse(*b.Retention)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// Plan is a stored test plan.
type Plan struct {
	ID          uuid.UUID     `json:"id" format:"uuid" doc:"Identity of the plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Name        string        `json:"name" doc:"Name of the plan, unique among plans." example:"Checkout smoke test"`
	Description string        `json:"description" doc:"What the plan checks." example:"Creates a cart, adds an item and checks out."`
	Labels      Labels        `json:"labels" doc:"Labels to filter plans by: at most 50; keys are 1 to 63 characters without ':', values at most 255 characters." example:"{\"team\":\"payments\",\"env\":\"staging\"}"`
	Document    plan.Document `json:"document" doc:"The plan document: variables and the steps to run." example:"{\"variables\":{\"base_url\":\"https://api.example.com\"},\"steps\":[{\"name\":\"Health check\",\"request\":{\"method\":\"GET\",\"url\":\"{{base_url}}/health\"},\"assert\":{\"status\":[200]}}]}"`
	Retention   *string       `json:"retention" doc:"How long this plan's finished executions are kept: whole days such as 14d, or a duration such as 36h0m0s; 0 keeps them forever; null follows the server's ASTRO_EXECUTION_RETENTION. The 100 newest executions of a plan are kept whatever their age." example:"14d"`
	Revision    int64         `json:"revision" doc:"Revision of the plan: 1 when created, bumped by every update. The ETag header carries it." example:"3"`
	CreatedAt   time.Time     `json:"created_at" doc:"When the plan was created." example:"2025-01-02T15:04:05Z"`
	UpdatedAt   time.Time     `json:"updated_at" doc:"When the plan was last changed." example:"2025-01-03T09:30:00Z"`
}

// PlanList is one page of plans.
type PlanList struct {
	Plans      []Plan `json:"plans" nullable:"false" doc:"The plans of this page, oldest first." example:"[]"`
	NextCursor string `json:"next_cursor" doc:"Cursor of the next page, to pass as ?cursor=. Empty on the last page." example:"eyJpIjoiMDE5MGMxYzItN2ExYi03Y2MwLThmMDAtM2Q1ZTJiMWE5YzRkIn0"`
}

type createPlanInput struct {
	Body PlanBody
}

type createPlanOutput struct {
	Location string `header:"Location" doc:"Path of the new plan." example:"/plan/0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	ETag     string `header:"ETag" doc:"Revision of the plan as an entity tag. Send it in If-Match to update the plan." example:"\"1\""`
	Body     Plan
}

type getPlanInput struct {
	ID uuid.UUID `path:"id" format:"uuid" doc:"Identity of the plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
}

type planOutput struct {
	ETag string `header:"ETag" doc:"Revision of the plan as an entity tag. Send it in If-Match to update the plan." example:"\"3\""`
	Body Plan
}

type listPlansInput struct {
	Name   string   `query:"name" maxLength:"200" doc:"Keep plans whose name starts with this text (case-sensitive)." example:"Checkout"`
	Label  []string `query:"label,explode" maxItems:"50" doc:"Keep plans that carry this label, written key:value. Repeat the parameter to require several labels." example:"[\"team:payments\"]"`
	Limit  int      `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Largest number of plans to return." example:"50"`
	Cursor string   `query:"cursor" maxLength:"256" doc:"The next_cursor of the previous page. Empty for the first page." example:"eyJpIjoiMDE5MGMxYzItN2ExYi03Y2MwLThmMDAtM2Q1ZTJiMWE5YzRkIn0"`
}

type listPlansOutput struct {
	Link []string `header:"Link" doc:"Link to the next page, with rel=\"next\", when there is one." example:"</plan?cursor=eyJpIjoiMDE5MGMxYzItN2ExYi03Y2MwLThmMDAtM2Q1ZTJiMWE5YzRkIn0&limit=50>; rel=\"next\""`
	Body PlanList
}

type updatePlanInput struct {
	ID      uuid.UUID `path:"id" format:"uuid" doc:"Identity of the plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	IfMatch string    `header:"If-Match" doc:"The plan's current ETag, from a previous read. Required: the update fails with 412 if the plan changed since." example:"\"3\""`
	Body    PlanBody
}

type deletePlanInput struct {
	ID      uuid.UUID `path:"id" format:"uuid" doc:"Identity of the plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Cascade bool      `query:"cascade" doc:"Also delete the plan's executions and cancel their queued or running jobs. Without it, a plan with executions is not deleted (409)." example:"false"`
}

// registerPlans adds the plan operations.
func (s *server) registerPlans(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-plan",
		Method:      http.MethodPost,
		Path:        "/plan",
		Summary:     "Create a plan",
		Description: "Stores a new plan at revision 1. The document is checked in full first; nothing is stored if any check fails. " +
			"The body may be at most 1 MiB (413) and nest arrays and objects at most 64 deep (400).",
		Tags:          []string{tagPlans},
		Security:      secured,
		DefaultStatus: http.StatusCreated,
		MaxBodyBytes:  maxPlanBodyBytes,
		Errors:        []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable},
	}, s.createPlan)

	huma.Register(api, huma.Operation{
		OperationID: "get-plan",
		Method:      http.MethodGet,
		Path:        "/plan/{id}",
		Summary:     "Get a plan",
		Description: "Returns one plan, with its revision in the ETag header.",
		Tags:        []string{tagPlans},
		Security:    secured,
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.getPlan)

	huma.Register(api, huma.Operation{
		OperationID: "list-plans",
		Method:      http.MethodGet,
		Path:        "/plan",
		Summary:     "List plans",
		Description: "Returns one page of plans, oldest first, filtered by name prefix and labels. " +
			"Follow next_cursor, or the Link header with rel=\"next\", for the next page. A malformed cursor gives 400.",
		Tags:     []string{tagPlans},
		Security: secured,
		Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable},
	}, s.listPlans)

	huma.Register(api, huma.Operation{
		OperationID: "update-plan",
		Method:      http.MethodPut,
		Path:        "/plan/{id}",
		Summary:     "Replace a plan",
		Description: "Replaces every writable field of a plan and bumps its revision. If-Match must carry the ETag of the revision " +
			"being replaced, quoted (\"3\") or bare (3): without it the answer is 428, and if the plan changed since, 412. " +
			"A weak tag (W/\"3\") never matches (If-Match compares strongly, RFC 9110) and also gives 412. " +
			"The body may be at most 1 MiB (413) and nest arrays and objects at most 64 deep (400).",
		Tags:         []string{tagPlans},
		Security:     secured,
		MaxBodyBytes: maxPlanBodyBytes,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict,
			http.StatusPreconditionFailed, http.StatusRequestEntityTooLarge, http.StatusPreconditionRequired, http.StatusServiceUnavailable},
	}, s.updatePlan)

	huma.Register(api, huma.Operation{
		OperationID: "delete-plan",
		Method:      http.MethodDelete,
		Path:        "/plan/{id}",
		Summary:     "Delete a plan",
		Description: "Deletes a plan. A plan that has executions is kept (409) unless cascade=true, which in one transaction " +
			"cancels the jobs of its queued and running executions, deletes the executions and then the plan.",
		Tags:          []string{tagPlans},
		Security:      secured,
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, s.deletePlan)
}

// planFromStorage returns the API form of a stored plan.
func planFromStorage(p *storage.Plan) (*Plan, error) {
	out := &Plan{
		ID:          p.ID,
		Name:        p.Name,
		Description: p.Description,
		Labels:      Labels(p.Labels),
		Revision:    p.Revision,
		CreatedAt:   p.CreatedAt,
		UpdatedAt:   p.UpdatedAt,
	}
	if out.Labels == nil {
		out.Labels = Labels{}
	}
	if p.Retention != nil {
		r := retention.Format(*p.Retention)
		out.Retention = &r
	}
	if err := json.Unmarshal(p.Document, &out.Document); err != nil {
		return nil, fmt.Errorf("decode stored document of plan %s: %w", p.ID, err)
	}
	return out, nil
}

// etag returns the entity tag of a plan revision.
func etag(revision int64) string {
	return `"` + strconv.FormatInt(revision, 10) + `"`
}

// parseIfMatch returns the revision named by an If-Match header of an
// update of a what (plan, environment). It accepts
// "3" and the bare 3. A missing header or * gives 428 and a list 400. A tag
// that is not a revision can never match, so it gives 412, and so does a
// weak tag such as W/"3": If-Match compares strongly (RFC 9110, 13.1.1), so
// a weak tag never matches.
func parseIfMatch(h, what string) (int64, error) {
	h = strings.TrimSpace(h)
	switch {
	case h == "":
		return 0, huma.Error428PreconditionRequired("If-Match is required: send the " + what + "'s ETag from a previous read")
	case h == "*":
		return 0, huma.Error428PreconditionRequired("If-Match: * is not accepted: send the " + what + "'s ETag from a previous read")
	case strings.Contains(h, ","):
		return 0, huma.Error400BadRequest("If-Match must hold exactly one entity tag")
	}
	if strings.HasPrefix(h, "W/") {
		return 0, huma.Error412PreconditionFailed("If-Match must carry a strong entity tag such as \"3\": a weak tag (W/) never matches")
	}
	tag := h
	if len(tag) >= 2 && strings.HasPrefix(tag, `"`) && strings.HasSuffix(tag, `"`) {
		tag = tag[1 : len(tag)-1]
	}
	rev, err := strconv.ParseInt(tag, 10, 64)
	if err != nil || rev < 1 {
		return 0, huma.Error412PreconditionFailed("If-Match does not match the " + what + "'s current ETag")
	}
	return rev, nil
}

// checkDocument validates a plan document beyond its schema and returns it
// encoded for storage. A document that fails gives 422 with one error
// detail per problem, located under body.document.
func (s *server) checkDocument(ctx context.Context, doc *plan.Document) (json.RawMessage, error) {
	checkSecret, err := s.secretCheck(ctx, doc)
	if err != nil {
		return nil, err
	}
	opts := s.validateOptions("body.document")
	opts.CheckSecretFunc = checkSecret
	err = doc.Validate(opts)
	var ve *plan.ValidationError
	switch {
	case errors.As(err, &ve):
		return nil, huma.Error422UnprocessableEntity("validation failed", ve.Details()...)
	case err != nil:
		return nil, s.httpError(ctx, fmt.Errorf("validate plan document: %w", err))
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, s.httpError(ctx, fmt.Errorf("encode plan document: %w", err))
	}
	return b, nil
}

// validateOptions returns the options of plan.Validate for this server,
// with problems located under location.
func (s *server) validateOptions(location string) plan.ValidateOptions {
	return plan.ValidateOptions{EnvAllow: s.deps.PlanEnvAllow, Location: location}
}

func (s *server) createPlan(ctx context.Context, in *createPlanInput) (*createPlanOutput, error) {
	doc, err := s.checkDocument(ctx, &in.Body.Document)
	if err != nil {
		return nil, err
	}
	keep, err := in.Body.retention()
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	p, err := s.deps.Store.PlanCreate(ctx, &storage.PlanCreateParams{
		Name:        in.Body.Name,
		Description: in.Body.Description,
		Labels:      in.Body.Labels,
		Document:    doc,
		Retention:   keep,
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{
			Conflict: fmt.Sprintf("a plan named %q already exists", in.Body.Name),
		}))
	}
	out, err := planFromStorage(p)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	return &createPlanOutput{Location: "/plan/" + p.ID.String(), ETag: etag(p.Revision), Body: *out}, nil
}

func (s *server) getPlan(ctx context.Context, in *getPlanInput) (*planOutput, error) {
	p, err := s.deps.Store.PlanGetByID(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: fmt.Sprintf("no plan has id %s", in.ID)}))
	}
	out, err := planFromStorage(p)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	return &planOutput{ETag: etag(p.Revision), Body: *out}, nil
}

// parseLabelFilter turns label=key:value parameters into a map. A value
// without a colon, an empty key, or one key with two values gives 422.
func parseLabelFilter(params []string) (map[string]string, error) {
	if len(params) == 0 {
		return nil, nil
	}
	labels := make(map[string]string, len(params))
	var errs []error
	for i, p := range params {
		loc := fmt.Sprintf("query.label[%d]", i)
		k, v, ok := strings.Cut(p, ":")
		switch {
		case !ok:
			errs = append(errs, &huma.ErrorDetail{Location: loc, Message: "expected key:value", Value: p})
		case k == "":
			errs = append(errs, &huma.ErrorDetail{Location: loc, Message: "label key must not be empty", Value: p})
		default:
			if prev, seen := labels[k]; seen && prev != v {
				errs = append(errs, &huma.ErrorDetail{Location: loc, Message: fmt.Sprintf("label %q is already required to be %q", k, prev), Value: p})
				continue
			}
			labels[k] = v
		}
	}
	if len(errs) > 0 {
		return nil, huma.Error422UnprocessableEntity("validation failed", errs...)
	}
	return labels, nil
}

func (s *server) listPlans(ctx context.Context, in *listPlansInput) (*listPlansOutput, error) {
	if err := checkQueryText("name", in.Name); err != nil {
		return nil, err
	}
	labels, err := parseLabelFilter(in.Label)
	if err != nil {
		return nil, err
	}
	page, err := s.deps.Store.PlanList(ctx, &storage.PlanListParams{
		NamePrefix: in.Name,
		Labels:     labels,
		Limit:      in.Limit,
		Cursor:     in.Cursor,
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, badCursor(in.Cursor)))
	}
	out := &listPlansOutput{Body: PlanList{Plans: make([]Plan, 0, len(page.Plans)), NextCursor: page.NextCursor}}
	for _, p := range page.Plans {
		ap, err := planFromStorage(p)
		if err != nil {
			return nil, s.httpError(ctx, err)
		}
		out.Body.Plans = append(out.Body.Plans, *ap)
	}
	q := url.Values{}
	if in.Name != "" {
		q.Set("name", in.Name)
	}
	for _, l := range in.Label {
		q.Add("label", l)
	}
	out.Link = nextLink("/plan", q, in.Limit, page.NextCursor)
	return out, nil
}

// nextLink returns the Link header of a listing: the next page of path,
// with the listing's filters, its limit and the next cursor; none on the
// last page (an empty cursor).
func nextLink(path string, filters url.Values, limit int, cursor string) []string {
	if cursor == "" {
		return nil
	}
	q := url.Values{}
	for k, v := range filters {
		q[k] = v
	}
	q.Set("limit", strconv.Itoa(limit))
	q.Set("cursor", cursor)
	return []string{"<" + path + "?" + q.Encode() + `>; rel="next"`}
}

// checkQueryText answers 422 for a text filter of a listing that holds a
// NUL or is not valid UTF-8. Such text matches nothing that can be stored,
// but Postgres refuses it outright (SQLSTATE 22021), which would otherwise
// come back as a refused cursor, and SQLite would answer an empty page.
func checkQueryText(name, value string) error {
	msg := ""
	switch {
	case strings.IndexByte(value, 0) >= 0:
		msg = "must not contain NUL"
	case !utf8.ValidString(value):
		msg = "must be valid UTF-8"
	default:
		return nil
	}
	return huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{
		Message: msg, Location: "query." + name, Value: value,
	})
}

// badCursor is what a listing answers when the store refuses its cursor.
func badCursor(cursor string) details {
	return details{
		Invalid:         "invalid cursor: pass the next_cursor of a previous page unchanged",
		InvalidLocation: "query.cursor",
		InvalidValue:    cursor,
	}
}

func (s *server) updatePlan(ctx context.Context, in *updatePlanInput) (*planOutput, error) {
	rev, err := parseIfMatch(in.IfMatch, "plan")
	if err != nil {
		return nil, err
	}
	doc, err := s.checkDocument(ctx, &in.Body.Document)
	if err != nil {
		return nil, err
	}
	keep, err := in.Body.retention()
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	p, err := s.deps.Store.PlanUpdate(ctx, &storage.PlanUpdateParams{
		ID:               in.ID,
		ExpectedRevision: rev,
		Name:             in.Body.Name,
		Description:      in.Body.Description,
		Labels:           in.Body.Labels,
		Document:         doc,
		Retention:        keep,
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{
			NotFound: fmt.Sprintf("no plan has id %s", in.ID),
			Stale:    fmt.Sprintf("plan %s is no longer at revision %d: fetch it again and retry with its new ETag", in.ID, rev),
			Conflict: fmt.Sprintf("a plan named %q already exists", in.Body.Name),
		}))
	}
	out, err := planFromStorage(p)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	return &planOutput{ETag: etag(p.Revision), Body: *out}, nil
}

func (s *server) deletePlan(ctx context.Context, in *deletePlanInput) (*struct{}, error) {
	var err error
	if in.Cascade {
		err = s.deps.Store.InTx(ctx, func(tx storage.Store) error { return deletePlanCascade(ctx, tx, in.ID) })
		if err == nil && s.deps.CancelFunc != nil {
			s.deps.CancelFunc()
		}
	} else {
		err = s.deps.Store.PlanDelete(ctx, in.ID)
	}
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{
			NotFound:   fmt.Sprintf("no plan has id %s", in.ID),
			Referenced: fmt.Sprintf("plan %s has executions: delete with ?cascade=true to delete them too", in.ID),
		}))
	}
	return &struct{}{}, nil
}

// deletePlanCascade deletes a plan and its executions in tx. It first
// cancels the jobs of the plan's queued and running executions: a job not
// yet running never runs, and a running one is flagged and stopped by its
// worker, which deletePlan's CancelFunc wakes (or, at the latest, at its
// next heartbeat). A worker that already holds such a job finds
// its execution gone, so the execute_plan handler must treat a missing
// execution as nothing to do.
func deletePlanCascade(ctx context.Context, tx storage.Store, id uuid.UUID) error {
	for _, status := range []storage.ExecutionStatus{storage.ExecutionQueued, storage.ExecutionRunning} {
		cursor := ""
		for {
			page, err := tx.ExecutionList(ctx, &storage.ExecutionListParams{
				PlanID: id, Status: status, Limit: storage.MaxPageLimit, Cursor: cursor,
			})
			if err != nil {
				return fmt.Errorf("list %s executions of plan %s: %w", status, id, err)
			}
			for _, e := range page.Executions {
				if err := cancelExecutionJob(ctx, tx, e.ID); err != nil {
					return err
				}
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
	}
	if _, err := tx.ExecutionDeleteByPlanID(ctx, id); err != nil {
		return fmt.Errorf("delete executions of plan %s: %w", id, err)
	}
	if err := tx.PlanDelete(ctx, id); err != nil {
		return fmt.Errorf("delete plan %s: %w", id, err)
	}
	return nil
}
