// Command target is a small HTTP service to point example plans at. It
// listens on 127.0.0.1:9090 (or -addr) and serves a health check and a tiny
// user API.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"strconv"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "listen address")
	flag.Parse()
	srv := &http.Server{Addr: *addr, Handler: newMux(), ReadHeaderTimeout: 5 * time.Second}
	log.Printf("example target listening on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}

type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func newMux() *http.ServeMux {
	var mu sync.Mutex
	users := map[int]user{}
	next := 1
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "healthy", "version": "1.4.2"})
	})
	mux.HandleFunc("POST /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		var u user
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&u); err != nil || u.Name == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "name is required"})
			return
		}
		mu.Lock()
		u.ID = next
		next++
		users[u.ID] = u
		mu.Unlock()
		w.Header().Set("Location", "/api/v1/users/"+strconv.Itoa(u.ID))
		writeJSON(w, http.StatusCreated, u)
	})
	mux.HandleFunc("GET /api/v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		mu.Lock()
		u, ok := users[id]
		mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such user"})
			return
		}
		writeJSON(w, http.StatusOK, u)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
