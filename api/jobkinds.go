package api

import "github.com/google/uuid"

// JobKindExecutePlan is the kind of the job that runs one execution. The
// API enqueues it in the same transaction that creates the execution.
const JobKindExecutePlan = "execute_plan"

// ExecutePlanPayload is the payload of a JobKindExecutePlan job.
type ExecutePlanPayload struct {
	// ExecutionID names the execution to run.
	ExecutionID uuid.UUID `json:"execution_id"`
}

// ExecutionJobKey returns the unique key of the job that runs an execution,
// "execution:<id>". It lets the API find the job to cancel, and keeps a
// second live job for the same execution from being enqueued.
func ExecutionJobKey(executionID uuid.UUID) string {
	return "execution:" + executionID.String()
}
