package astro_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"

	astro "github.com/astro-runner/astro-runner/sdk/go"
)

// Example_runPlan creates a plan and runs it to the end. It needs a running server, so
// it is compiled but not run.
func Example_runPlan() {
	ctx := context.Background()
	c, err := astro.New("http://127.0.0.1:8080", astro.WithToken(os.Getenv("ASTRO_API_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	plan, err := c.CreatePlan(ctx, astro.PlanBody{Name: "Smoke", Document: astro.PlanDocument{
		Steps: []astro.PlanStep{{Name: "Health", Request: astro.PlanRequest{Method: "GET", Url: "https://api.example.com/health"}}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	exec, err := c.RunPlan(ctx, plan.Id, astro.RunOptions{IdempotencyKey: "deploy-42"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(exec.Status)
}

// ExampleProblem tells a stale update (412) from other errors.
func ExampleProblem() {
	ctx := context.Background()
	c, err := astro.New("http://127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	id, err := astro.ParseUUID("0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d")
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.UpdatePlan(ctx, id, 3, astro.PlanBody{Name: "Smoke"})
	var p *astro.Problem
	if errors.As(err, &p) && p.Status == http.StatusPreconditionFailed {
		fmt.Println("the plan changed since revision 3; read it again")
	}
}
