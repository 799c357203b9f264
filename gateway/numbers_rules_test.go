package gateway_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"

	"directsms/sql/pg"
)

// The assignment rules of DESIGN.md "Numbers", each through the API.

func TestAssignToAgent_Rules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(10), num(11), num(12), num(13), num(14), num(15))
	e.addVerified(c, num(10), false) // verified, not direct
	e.addNumber(c, num(11), true)    // direct, unverified
	e.addVerified(c, num(12), true)  // will belong to another agent
	e.addVerified(c, num(13), true)  // will be on an SMS queue
	e.addVerified(c, num(14), true)  // free
	e.addVerified(c, num(15), true)  // free

	agent, other := e.newUser("Alice", "agent"), e.newUser("Bob", "agent")
	gone := e.newUser("Gone", "agent")
	e.deactivate(gone)
	otherTenant, _, _ := e.newTenant("Other")
	foreign, _ := e.agent(otherTenant, "foreign")
	sms := e.newQueue("Sales", "sms", "")
	expect(t, e.assignAgent(other, num(12)), http.StatusOK, "")
	expect(t, e.assignQueue(sms, num(13)), http.StatusOK, "")

	cases := []struct {
		name   string
		user   string
		number string
		status int
		code   string
	}{
		{"a number that is not direct cannot be a direct number", agent, num(10), http.StatusConflict, "number_not_direct"},
		{"an unverified number cannot be a direct number", agent, num(11), http.StatusConflict, "number_unverified"},
		{"a number of another agent cannot go to a second agent", agent, num(12), http.StatusConflict, "number_assigned_to_agent"},
		{"a number on an SMS queue cannot go to an agent", agent, num(13), http.StatusConflict, "number_assigned_to_sms_queue"},
		{"a deactivated user gets no number", gone, num(14), http.StatusNotFound, "not_found"},
		{"another tenant's user is not found", foreign, num(14), http.StatusNotFound, "not_found"},
		{"a number not in the inventory is not found", agent, "+14155550123", http.StatusNotFound, "not_found"},
		{"an invalid number names the input", agent, "12ab", http.StatusUnprocessableEntity, "invalid_number"},
		{"a free direct verified number is assigned", agent, num(14), http.StatusOK, ""},
		{"assigning it again changes nothing", agent, num(14), http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.assignAgent(tc.user, tc.number), tc.status, tc.code)
		})
	}
	if u, q, _ := e.owner(num(12)); u != other || q != "" {
		t.Fatalf("got owner %s/%s of %s, want the other agent still", u, q, num(12))
	}
}

func TestAssignToAgent_CreatesThePersonalQueueOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(20), num(21))
	e.addVerified(c, num(20), true)
	e.addVerified(c, num(21), true)
	agent := e.newUser("Alice", "agent")

	first := e.assignAgent(agent, num(20))
	expect(t, first, http.StatusOK, "")
	second := e.assignAgent(agent, num(21))
	expect(t, second, http.StatusOK, "")
	q1 := field(first.JSON(t), "sms_owner", "personal_queue_id")
	q2 := field(second.JSON(t), "sms_owner", "personal_queue_id")
	if q1 == nil || q1 != q2 {
		t.Fatalf("got personal queues %v and %v, want one, the same", q1, q2)
	}
	var members int
	if err := e.db.Get(&members, `SELECT count(*) FROM queue_members m JOIN queues q ON q.id = m.queue_id
		WHERE q.personal_user_id = $1 AND m.user_id = $1 AND q.kind = 'sms'`, agent); err != nil || members != 1 {
		t.Fatalf("got %d personal queue memberships (%v), want 1", members, err)
	}
}

func TestAssignToAgent_AtMostTheTenantsLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owned := []string{num(30), num(31), num(32), num(33)}
	c := e.startCarrier(owned...)
	for _, n := range owned {
		e.addVerified(c, n, true)
	}
	mustExec(t, e.db, `UPDATE tenants SET max_direct_numbers_per_agent = 3 WHERE id = $1`, e.tenantID)
	agent := e.newUser("Alice", "agent")
	for _, n := range owned[:3] {
		expect(t, e.assignAgent(agent, n), http.StatusOK, "")
	}
	expect(t, e.assignAgent(agent, owned[3]), http.StatusConflict, "agent_number_limit")
	expect(t, e.do(http.MethodDelete, "/v1/users/"+agent+"/direct-numbers/"+url.PathEscape(owned[0]), e.adminKey, nil), http.StatusNoContent, "")
	expect(t, e.assignAgent(agent, owned[3]), http.StatusOK, "")
}

func TestAssignToQueue_Rules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(40), num(41), num(42), num(43), num(44), num(45))
	e.addVerified(c, num(40), true)  // on an agent
	e.addVerified(c, num(41), true)  // on an SMS queue
	e.addVerified(c, num(42), true)  // on an IVR queue
	e.addVerified(c, num(43), false) // verified, not direct
	e.addNumber(c, num(44), true)    // unverified
	e.addVerified(c, num(45), true)  // free

	agent := e.newUser("Alice", "agent")
	sales, support := e.newQueue("Sales", "sms", ""), e.newQueue("Support", "sms", "")
	ivr, ivr2 := e.newQueue("Main menu", "ivr", ""), e.newQueue("After hours", "ivr", "")
	smsParent := e.newQueue("Regions", "sms", "")
	e.newQueue("North", "sms", smsParent)
	ivrParent := e.newQueue("Menus", "ivr", "")
	e.newQueue("Menu 1", "ivr", ivrParent)
	expect(t, e.assignAgent(agent, num(40)), http.StatusOK, "")
	expect(t, e.assignQueue(sales, num(41)), http.StatusOK, "")
	expect(t, e.assignQueue(ivr, num(42)), http.StatusOK, "")
	var personal string
	if err := e.db.Get(&personal, `SELECT id FROM queues WHERE personal_user_id = $1`, agent); err != nil {
		t.Fatalf("find personal queue: %v", err)
	}

	cases := []struct {
		name   string
		queue  string
		number string
		status int
		code   string
	}{
		{"a number assigned to an agent cannot go to an SMS queue", support, num(40), http.StatusConflict, "number_assigned_to_agent"},
		{"a number on an SMS queue cannot go to another SMS queue", support, num(41), http.StatusConflict, "number_assigned_to_sms_queue"},
		{"a number on an IVR queue cannot go to another IVR queue", ivr2, num(42), http.StatusConflict, "number_assigned_to_ivr_queue"},
		{"an unverified number cannot go to an SMS queue", support, num(44), http.StatusConflict, "number_unverified"},
		{"an SMS queue that has child queues takes no number", smsParent, num(45), http.StatusConflict, "not_leaf_queue"},
		{"an IVR queue that has child queues takes no number", ivrParent, num(45), http.StatusConflict, "not_leaf_queue"},
		{"a personal queue takes numbers only through its agent", personal, num(45), http.StatusConflict, "personal_queue"},
		{"an IVR queue's number can go to an SMS queue", support, num(42), http.StatusOK, ""},
		{"an SMS queue's number can go to an IVR queue", ivr2, num(41), http.StatusOK, ""},
		{"an agent's number can go to an IVR queue", ivr2, num(40), http.StatusOK, ""},
		{"a verified number that is not direct can go to an SMS queue", sales, num(43), http.StatusOK, ""},
		{"an unverified number can go to an IVR queue", ivr, num(44), http.StatusOK, ""},
		{"assigning it again changes nothing", support, num(42), http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.assignQueue(tc.queue, tc.number), tc.status, tc.code)
		})
	}
	if u, q, i := e.owner(num(42)); u != "" || q != support || i != ivr {
		t.Fatalf("got %s/%s/%s, want %s on SMS queue Support and IVR queue Main menu", u, q, i, num(42))
	}
}

func TestAssignToQueue_IVRIsIndependentOfTheSMSOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(50), num(51))
	e.addVerified(c, num(50), true)
	e.addNumber(c, num(51), false)
	agent := e.newUser("Alice", "agent")
	ivr := e.newQueue("Main menu", "ivr", "")
	expect(t, e.assignAgent(agent, num(50)), http.StatusOK, "")
	expect(t, e.assignQueue(ivr, num(50)), http.StatusOK, "")
	expect(t, e.assignQueue(e.newQueue("Other menu", "ivr", ""), num(51)), http.StatusOK, "") // IVR asks neither direct nor verified
	if u, _, i := e.owner(num(50)); u != agent || i != ivr {
		t.Fatalf("got agent %s and IVR %s, want both", u, i)
	}
	expect(t, e.do(http.MethodDelete, "/v1/queues/"+ivr+"/numbers/"+url.PathEscape(num(50)), e.adminKey, nil), http.StatusNoContent, "")
	expect(t, e.do(http.MethodDelete, "/v1/queues/"+ivr+"/numbers/"+url.PathEscape(num(50)), e.adminKey, nil), http.StatusNotFound, "not_found")
	if u, _, i := e.owner(num(50)); u != agent || i != "" {
		t.Fatalf("got agent %q and IVR %q, want the agent kept and no IVR queue", u, i)
	}
}

func TestQueue_HoldingNumbersCannotBecomeAParent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(60))
	e.addVerified(c, num(60), false)
	sales, other := e.newQueue("Sales", "sms", ""), e.newQueue("Sales East", "sms", "")
	expect(t, e.assignQueue(sales, num(60)), http.StatusOK, "")
	cases := []struct {
		name string
		do   func() response
	}{
		{"a new child", func() response {
			return e.do(http.MethodPost, "/v1/queues", e.adminKey, map[string]any{"name": "Sales West", "kind": "sms", "parent_id": sales})
		}},
		{"a queue moved under it", func() response {
			return e.do(http.MethodPatch, "/v1/queues/"+other, e.adminKey, map[string]any{"parent_id": sales})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, tc.do(), http.StatusConflict, "queue_has_numbers")
		})
	}
	t.Run("the database refuses it too", func(t *testing.T) {
		_, err := e.db.Exec(`UPDATE queues SET parent_id = $2 WHERE id = $1`, other, sales)
		if pg.Constraint(err) != "queues_parent_numbers_check" {
			t.Fatalf("got %v, want a violation of queues_parent_numbers_check", err)
		}
	})
	t.Run("a queue holding numbers cannot be deleted", func(t *testing.T) {
		expect(t, e.do(http.MethodDelete, "/v1/queues/"+sales, e.adminKey, nil), http.StatusConflict, "queue_in_use")
	})
}

func TestPatchDirect_MarkingDirectRemovesOutboundAssignments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(70))
	e.addVerified(c, num(70), false)
	agent := e.newUser("Alice", "agent")
	sales := e.newQueue("Sales", "sms", "")
	expect(t, e.assignQueue(sales, num(70)), http.StatusOK, "") // a non-direct number's SMS owner stays
	r := e.do(http.MethodPut, numberPath(num(70))+"/outbound", e.adminKey, map[string]any{"user_ids": []string{agent}, "queue_ids": []string{sales}})
	expect(t, r, http.StatusOK, "")
	if got := field(r.JSON(t), "outbound", "user_ids").([]any); len(got) != 1 || got[0] != agent {
		t.Fatalf("got outbound users %v, want [%s]", got, agent)
	}

	r = e.do(http.MethodPatch, numberPath(num(70)), e.adminKey, map[string]any{"direct": true})
	expect(t, r, http.StatusOK, "")
	got := r.JSON(t)
	removed := got["removed_assignments"].([]any)
	want := []map[string]any{{"kind": "outbound", "user_id": agent}, {"kind": "outbound", "queue_id": sales}}
	if !sameRemoved(removed, want) {
		t.Fatalf("got removed_assignments %v, want %v", removed, want)
	}
	if field(got, "sms_owner", "queue_id") != sales || len(field(got, "outbound", "user_ids").([]any)) != 0 {
		t.Fatalf("got %v, want the queue kept and no outbound assignment", got)
	}
	r = e.do(http.MethodPatch, numberPath(num(70)), e.adminKey, map[string]any{"label": "renamed"})
	if got := r.JSON(t)["removed_assignments"].([]any); len(got) != 0 {
		t.Fatalf("got removed_assignments %v for a label change, want none", got)
	}
}

func TestPatchDirect_ClearingDirectRemovesAgentAndSMSQueueOwners(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(80), num(81))
	e.addVerified(c, num(80), true)
	e.addVerified(c, num(81), true)
	agent := e.newUser("Alice", "agent")
	sales, ivr := e.newQueue("Sales", "sms", ""), e.newQueue("Menu", "ivr", "")
	expect(t, e.assignAgent(agent, num(80)), http.StatusOK, "")
	expect(t, e.assignQueue(ivr, num(80)), http.StatusOK, "")
	expect(t, e.assignQueue(sales, num(81)), http.StatusOK, "")

	cases := []struct {
		number string
		want   map[string]any
	}{
		{num(80), map[string]any{"kind": "sms_owner", "user_id": agent}},
		{num(81), map[string]any{"kind": "sms_owner", "queue_id": sales}},
	}
	for _, tc := range cases {
		r := e.do(http.MethodPatch, numberPath(tc.number), e.adminKey, map[string]any{"direct": false})
		expect(t, r, http.StatusOK, "")
		got := r.JSON(t)
		if !sameRemoved(got["removed_assignments"].([]any), []map[string]any{tc.want}) || got["sms_owner"] != nil || got["direct"] != false {
			t.Fatalf("got %v, want %v removed and no SMS owner", got, tc.want)
		}
	}
	if _, _, i := e.owner(num(80)); i != ivr {
		t.Fatalf("got IVR queue %q, want %s kept: clearing direct leaves IVR alone", i, ivr)
	}
}

func TestOutbound_Rules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(90), num(91))
	e.addVerified(c, num(90), true)
	e.addNumber(c, num(91), false)
	agent := e.newUser("Alice", "agent")
	sales, ivr := e.newQueue("Sales", "sms", ""), e.newQueue("Menu", "ivr", "")
	parent := e.newQueue("Regions", "sms", "")
	e.newQueue("North", "sms", parent)

	cases := []struct {
		name   string
		number string
		body   map[string]any
		status int
		code   string
	}{
		{"a direct number has no outbound assignments", num(90), map[string]any{"user_ids": []string{agent}}, http.StatusConflict, "number_is_direct"},
		{"an unknown user is refused", num(91), map[string]any{"user_ids": []string{"3f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1"}}, http.StatusUnprocessableEntity, "user_not_found"},
		{"a malformed user id is refused", num(91), map[string]any{"user_ids": []string{"nope"}}, http.StatusUnprocessableEntity, "user_not_found"},
		{"an IVR queue sends no texts", num(91), map[string]any{"queue_ids": []string{ivr}}, http.StatusUnprocessableEntity, "not_sms_queue"},
		{"a parent queue takes no number", num(91), map[string]any{"queue_ids": []string{parent}}, http.StatusConflict, "not_leaf_queue"},
		{"users and leaf SMS queues may send from a non-direct number", num(91), map[string]any{"user_ids": []string{agent, agent}, "queue_ids": []string{sales}}, http.StatusOK, ""},
		{"an unknown field is a bad request", num(91), map[string]any{"users": []string{agent}}, http.StatusBadRequest, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.do(http.MethodPut, numberPath(tc.number)+"/outbound", e.adminKey, tc.body), tc.status, tc.code)
		})
	}
	r := e.do(http.MethodPut, numberPath(num(91))+"/outbound", e.adminKey, map[string]any{"queue_ids": []string{sales}})
	expect(t, r, http.StatusOK, "")
	if got := field(r.JSON(t), "outbound"); len(got.(map[string]any)["user_ids"].([]any)) != 0 {
		t.Fatalf("got outbound %v, want the user replaced away", got)
	}
}

func TestNumbers_WritesAreForAdmins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(95))
	e.addVerified(c, num(95), true)
	supervisor, agentKey := e.keyFor("supervisor"), e.keyFor("agent")
	agent := e.newUser("Alice", "agent")
	expect(t, e.do(http.MethodGet, numberPath(num(95)), supervisor, nil), http.StatusOK, "")
	expect(t, e.do(http.MethodGet, "/v1/numbers", supervisor, nil), http.StatusOK, "")
	for _, key := range []string{supervisor, agentKey} {
		expect(t, e.do(http.MethodPut, "/v1/users/"+agent+"/direct-numbers/"+url.PathEscape(num(95)), key, nil), http.StatusForbidden, "forbidden")
		expect(t, e.do(http.MethodPatch, numberPath(num(95)), key, map[string]any{"direct": false}), http.StatusForbidden, "forbidden")
		expect(t, e.do(http.MethodPost, "/v1/numbers", key, map[string]any{"number": num(96)}), http.StatusForbidden, "forbidden")
	}
	expect(t, e.do(http.MethodGet, "/v1/numbers", agentKey, nil), http.StatusForbidden, "forbidden")
}

// The rules hold when requests race: the database decides, so exactly one wins.

func TestAssign_ConcurrentAssignsOfOneNumberHaveOneWinner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.startCarrier(num(100))
	e.addVerified(c, num(100), true)
	const racers = 20
	targets := make([]func() response, racers)
	for i := range targets {
		if i%2 == 0 {
			user := e.newUser("Agent"+string(rune('A'+i)), "agent")
			targets[i] = func() response { return e.assignAgent(user, num(100)) }
		} else {
			queue := e.newQueue("Queue"+string(rune('A'+i)), "sms", "")
			targets[i] = func() response { return e.assignQueue(queue, num(100)) }
		}
	}
	statuses := race(targets)
	if statuses[http.StatusOK] != 1 || statuses[http.StatusConflict] != racers-1 {
		t.Fatalf("got statuses %v, want one 200 and %d 409s", statuses, racers-1)
	}
	u, q, _ := e.owner(num(100))
	if (u == "") == (q == "") {
		t.Fatalf("got SMS user %q and SMS queue %q, want exactly one owner", u, q)
	}
}

func TestAssign_ConcurrentAssignsToOneAgentStayWithinTheLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var nums []string
	for i := 0; i < 20; i++ {
		nums = append(nums, num(110+i))
	}
	c := e.startCarrier(nums...)
	for _, n := range nums {
		e.addVerified(c, n, true)
	}
	agent := e.newUser("Alice", "agent")
	targets := make([]func() response, len(nums))
	for i, n := range nums {
		targets[i] = func() response { return e.assignAgent(agent, n) }
	}
	statuses := race(targets)
	if statuses[http.StatusOK] != 5 || statuses[http.StatusConflict] != 15 {
		t.Fatalf("got statuses %v, want 5 assigned (the default limit) and 15 refused", statuses)
	}
	var owned int
	if err := e.db.Get(&owned, `SELECT count(*) FROM numbers WHERE sms_user_id = $1`, agent); err != nil || owned != 5 {
		t.Fatalf("got %d numbers owned (%v), want 5", owned, err)
	}
}

// race runs every request at once and counts the answers by status.
func race(requests []func() response) map[int]int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := make(chan struct{})
	statuses := map[int]int{}
	for _, do := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := do()
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return statuses
}

// sameRemoved compares removed_assignments with want, in any order.
func sameRemoved(got []any, want []map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			gm := g.(map[string]any)
			if len(gm) == len(w) && gm["kind"] == w["kind"] && gm["user_id"] == w["user_id"] && gm["queue_id"] == w["queue_id"] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
