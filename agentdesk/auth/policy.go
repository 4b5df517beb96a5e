package auth

import "github.com/hotline-12345/hotline/cases"

// Permission is something a user may be allowed to do, with the team or department it
// concerns when it is scoped.
type Permission struct {
	Name  string
	Scope string // team or department; AnyScope asks "for at least one"
	Owner string // ViewCall: the agent who took the call
}

// AnyScope in a scoped permission asks whether the user has it for some team or
// department: a route guard passes, and the handler checks the actual scope with Can.
const AnyScope = "*"

var (
	// TakeCalls: go ready and answer offered calls (the softphone).
	TakeCalls = Permission{Name: "take_calls"}
	// EditCase: fill in the case form, answer a request directly.
	EditCase = Permission{Name: "edit_case"}
	// DispatchCase and CloseCase are case handling, never outsourced.
	DispatchCase = Permission{Name: "dispatch_case"}
	CloseCase    = Permission{Name: "close_case"}
	// ManageUsers: create, change, disable users and reset passwords.
	ManageUsers = Permission{Name: "manage_users"}
)

// MonitorTeam: listen, whisper and barge on the live calls of team.
func MonitorTeam(team string) Permission { return Permission{Name: "monitor_team", Scope: team} }

// ForceAgentState: put an agent of team on break or sign them out.
func ForceAgentState(team string) Permission {
	return Permission{Name: "force_agent_state", Scope: team}
}

// ListenRecording: play or download the recordings of team's calls.
func ListenRecording(team string) Permission {
	return Permission{Name: "listen_recording", Scope: team}
}

// ViewTeam: the wallboard and the call list of team.
func ViewTeam(team string) Permission { return Permission{Name: "view_team", Scope: team} }

// ViewCall: see one call (and its screen pop) taken by agent in team. An agent sees only
// their own calls; a supervisor their team's.
func ViewCall(team, agent string) Permission {
	return Permission{Name: "view_call", Scope: team, Owner: agent}
}

// HandleDeptCases: sign, return, reply to cases dispatched to dept.
func HandleDeptCases(dept string) Permission {
	return Permission{Name: "handle_dept_cases", Scope: dept}
}

func (p Permission) String() string {
	s := p.Name
	if p.Scope != "" {
		s += "(" + p.Scope + ")"
	}
	if p.Owner != "" {
		s += "[" + p.Owner + "]"
	}
	return s
}

// in reports whether a user bound to mine (a team or department) may act on scope.
func in(mine, scope string) bool { return mine != "" && (scope == mine || scope == AnyScope) }

// Can is the whole access policy. It follows cases.mayAct for case actions (agents
// answer directly but do not dispatch or close; handling is government staff's) and adds
// the national rule that case handling is not outsourced: an outsourced user never
// dispatches or closes, whatever the role. Administrators run the system and manage users
// but do not listen to citizens.
func Can(u User, p Permission) bool {
	if u.Disabled || !validRole(u.Role) {
		return false
	}
	r := u.Role
	switch p.Name {
	case TakeCalls.Name:
		return r == cases.RoleAgent
	case EditCase.Name:
		return r == cases.RoleAgent || r == cases.RoleReviewer || r == cases.RoleSupervisor || r == cases.RoleAdmin
	case DispatchCase.Name, CloseCase.Name:
		return !u.Outsourced && (r == cases.RoleReviewer || r == cases.RoleSupervisor || r == cases.RoleAdmin)
	case ManageUsers.Name:
		return r == cases.RoleAdmin && !u.Outsourced
	case "monitor_team":
		return r == cases.RoleSupervisor && in(u.Team, p.Scope)
	case "force_agent_state":
		return r == cases.RoleSupervisor && in(u.Team, p.Scope) || r == cases.RoleAdmin && p.Scope != ""
	case "listen_recording":
		return r == cases.RoleSupervisor && in(u.Team, p.Scope) || r == cases.RoleReviewer && p.Scope != ""
	case "view_team":
		return r == cases.RoleSupervisor && in(u.Team, p.Scope) ||
			(r == cases.RoleReviewer || r == cases.RoleAdmin) && p.Scope != ""
	case "view_call":
		switch r {
		case cases.RoleAgent:
			return p.Owner != "" && p.Owner == u.ID
		case cases.RoleSupervisor:
			return in(u.Team, p.Scope)
		case cases.RoleReviewer, cases.RoleAdmin:
			return true
		}
		return false
	case "handle_dept_cases":
		return r == cases.RoleHandler && in(u.Dept, p.Scope)
	}
	return false
}

// Actor is the user as the cases package records it.
func (u User) Actor() cases.Actor { return cases.Actor{ID: u.ID, Role: u.Role, Dept: u.Dept} }
