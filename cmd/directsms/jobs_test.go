package main

import (
	"testing"
	"time"

	"directsms/sql/pgtest"
)

func TestServe_RunsScheduledJobsOncePerPeriodAcrossProcesses(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDSN(t)
	a := startProcess(t, dsn)
	startProcess(t, dsn)

	// offers.sweep runs every five seconds; both processes fire it, one claims each period.
	deadline := time.Now().Add(30 * time.Second)
	var periods, claims int
	for time.Now().Before(deadline) {
		if err := a.db.QueryRow(`SELECT count(DISTINCT period), count(*) FROM job_runs WHERE job = 'offers.sweep'`).Scan(&periods, &claims); err != nil {
			t.Fatalf("read job runs: %v", err)
		}
		if periods >= 2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if periods < 2 || claims != periods {
		t.Fatalf("offers.sweep: got %d claims of %d periods in 30s, want one claim for each of at least 2 periods", claims, periods)
	}
}
