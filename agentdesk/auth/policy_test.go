package auth

import (
	"strings"
	"testing"

	"github.com/hotline-12345/hotline/cases"
)

func TestCanPerRole(t *testing.T) {
	agent := User{ID: "agent1", Role: cases.RoleAgent, Team: "a"}
	outsourced := User{ID: "agent2", Role: cases.RoleAgent, Team: "a", Outsourced: true}
	sup := User{ID: "sup-a", Role: cases.RoleSupervisor, Team: "a"}
	supOut := User{ID: "lead", Role: cases.RoleSupervisor, Team: "a", Outsourced: true} // the operator's team leader
	rev := User{ID: "rev", Role: cases.RoleReviewer}
	handler := User{ID: "h", Role: cases.RoleHandler, Dept: "cgj"}
	admin := User{ID: "admin", Role: cases.RoleAdmin}
	disabled := User{ID: "x", Role: cases.RoleAdmin, Disabled: true}
	nobody := User{ID: "n"}
	system := User{ID: "system", Role: cases.RoleSystem}

	perms := []Permission{
		TakeCalls, EditCase, DispatchCase, CloseCase, ManageUsers,
		MonitorTeam("a"), MonitorTeam("b"), MonitorTeam(AnyScope), MonitorTeam(""),
		ForceAgentState("a"), ForceAgentState("b"),
		ListenRecording("a"), ListenRecording("b"),
		ViewTeam("a"), ViewTeam("b"),
		ViewCall("a", "agent1"), ViewCall("a", "agent2"), ViewCall("b", "other"),
		HandleDeptCases("cgj"), HandleDeptCases("zjj"),
	}
	// One row per user, one column per permission above (groups as in the list):
	// 1 allowed, . refused.
	table := []struct {
		u    User
		want string
	}{
		{agent, "11... .... .. .. .. 1.. .."},
		{outsourced, "11... .... .. .. .. .1. .."},
		{sup, ".111. 1.1. 1. 1. 1. 11. .."},
		{supOut, ".1... 1.1. 1. 1. 1. 11. .."},
		{rev, ".111. .... .. 11 11 111 .."},
		{handler, "..... .... .. .. .. ... 1."},
		{admin, ".1111 .... 11 .. 11 111 .."},
		{disabled, "..... .... .. .. .. ... .."},
		{nobody, "..... .... .. .. .. ... .."},
		{system, "..... .... .. .. .. ... .."},
	}
	for _, row := range table {
		row.want = strings.ReplaceAll(row.want, " ", "")
		if len(row.want) != len(perms) {
			t.Fatalf("%s: row has %d columns, want %d", row.u.ID, len(row.want), len(perms))
		}
		for i, p := range perms {
			if got, want := Can(row.u, p), row.want[i] == '1'; got != want {
				t.Errorf("Can(%s %s outsourced=%v, %s) = %v, want %v", row.u.Role, row.u.ID, row.u.Outsourced, p, got, want)
			}
		}
	}
}

// The national rule, stated on its own: no outsourced user dispatches or closes, whatever
// the role.
func TestOutsourcedNeverHandlesCases(t *testing.T) {
	for _, r := range []cases.Role{cases.RoleAgent, cases.RoleHandler, cases.RoleReviewer, cases.RoleSupervisor, cases.RoleAdmin} {
		u := User{ID: "x", Role: r, Team: "a", Dept: "cgj", Outsourced: true}
		if Can(u, DispatchCase) || Can(u, CloseCase) {
			t.Errorf("outsourced %s may dispatch or close", r)
		}
	}
}
