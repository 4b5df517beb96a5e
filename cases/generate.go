package cases

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// GenConfig describes a synthetic year of cases for benchmarks and demos.
type GenConfig struct {
	Year  int    // e.g. 2026
	Cases int    // total over the year
	Seed  uint64 // same seed, same data
	Node  int    // digit in the generated case numbers
}

// Generator produces a year of realistic cases, day by day, with their
// timelines: a skewed category mix led by the topics of 12345 reports,
// a fifth of calls on legacy numbers, repeat callers and hot spots,
// dispatches to departments with deadlines mostly met, two satisfaction
// scores, and the call events the answer-rate report reads.
type Generator struct {
	cfg    GenConfig
	rng    *rand.Rand
	policy *Policy
	cats   []Category
	catCum []float64
	deptOf map[string][]string
	day    time.Time
	end    time.Time
	perDay float64
	pend   []Case
	pendEv []Event
	repeat []string // frequent callers
	spots  []string // hot-spot addresses
	nAll   int
}

// categoryWeight is the share of a category in a typical year; the rest is
// spread evenly. Illegal construction's 7.3 % is Hangzhou's 2012 figure.
var categoryWeight = map[string]float64{
	"0101": 7.3, "0201": 9.5, "0401": 8.0, "0504": 5.0, "0603": 4.0, "0604": 4.5, "0801": 6.0,
	"0901": 3.0, "1201": 4.0, "0204": 3.5, "0701": 3.0, "0702": 2.5, "9901": 8.0,
}

var deptByTop = map[string][]string{
	"01": {"zjj", "cgj", "xc-jd", "dc-jd"}, "02": {"sthjj", "cgj"}, "03": {"fgw", "scjgj"},
	"04": {"zjj", "xc-jd", "dc-jd"}, "05": {"jtj", "gaj"}, "06": {"rsj", "ybj"}, "07": {"sw", "dl", "rq"},
	"08": {"scjgj"}, "09": {"jyj"}, "10": {"wjw"}, "11": {"gaj"}, "12": {"cgj", "xc-jd", "dc-jd"}, "99": {"xc-jd", "dc-jd"},
}

// NewGenerator makes a generator over the given taxonomy and calendar.
func NewGenerator(cfg GenConfig, tax *Taxonomy, cal *Calendar) *Generator {
	g := &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		policy: &Policy{Calendar: cal, Taxonomy: tax}, deptOf: deptByTop}
	sum := 0.0
	for _, c := range tax.All() {
		if len(c.Code) != 4 {
			continue
		}
		w, ok := categoryWeight[c.Code]
		if !ok {
			w = 1.2
		}
		sum += w
		g.cats = append(g.cats, c)
		g.catCum = append(g.catCum, sum)
	}
	for i := range g.catCum {
		g.catCum[i] /= sum
	}
	g.day = time.Date(cfg.Year, 1, 1, 0, 0, 0, 0, ChinaTime)
	g.end = g.day.AddDate(1, 0, 0)
	// Days off get 70 % of a working day's cases; scale so the year sums to cfg.Cases.
	weight := 0.0
	for d := g.day; d.Before(g.end); d = d.AddDate(0, 0, 1) {
		weight += g.dayFactor(d)
	}
	g.perDay = float64(cfg.Cases) / weight
	for i := range 20000 {
		g.repeat = append(g.repeat, fmt.Sprintf("139%08d", i*4999%100000000))
	}
	for i := range 2000 {
		g.spots = append(g.spots, fmt.Sprintf("%s%d号", streets[i%len(streets)], 1+i/len(streets)))
	}
	return g
}

var streets = []string{"文三路", "文二路", "天目山路", "延安路", "解放路", "庆春路", "凤起路", "体育场路", "莫干山路", "西溪路",
	"古墩路", "教工路", "学院路", "湖墅南路", "秋涛路", "江南大道", "滨盛路", "钱江路", "新塘路", "艮山西路"}

// zipf returns a skewed index in [0, n): low indexes are far more likely, so
// a few callers and places account for many cases, as in repeat reports.
func (g *Generator) zipf(n int, s float64) int {
	u := g.rng.Float64()
	return int(math.Min(float64(n-1), math.Floor(math.Pow(float64(n), math.Pow(u, s))-1)))
}

// Next returns the next batch of about n cases (whole days) and their events;
// nil when the year is done.
func (g *Generator) Next(n int) ([]Case, []Event) {
	for len(g.pend) < n && g.day.Before(g.end) {
		g.genDay()
	}
	if len(g.pend) == 0 {
		return nil, nil
	}
	k := min(n, len(g.pend))
	cs := g.pend[:k:k]
	g.pend = g.pend[k:]
	ids := make(map[string]bool, k)
	for i := range cs {
		ids[cs[i].ID] = true
	}
	var evs, rest []Event
	for _, e := range g.pendEv {
		if ids[e.CaseID] {
			evs = append(evs, e)
		} else {
			rest = append(rest, e)
		}
	}
	g.pendEv = rest
	return cs, evs
}

func (g *Generator) dayFactor(d time.Time) float64 {
	if g.policy.Calendar.IsWorkday(d) {
		return 1
	}
	return 0.7 // fewer requests on days off
}

func (g *Generator) genDay() {
	day := g.day
	g.day = g.day.AddDate(0, 0, 1)
	n := int(g.perDay*g.dayFactor(day)*(0.85+0.3*g.rng.Float64()) + 0.5)
	times := make([]time.Time, n)
	for i := range times {
		// Mostly office hours: a mix of a day-time normal and a flat night.
		h := 8 + g.rng.NormFloat64()*3.5 + 5
		if g.rng.Float64() < 0.1 {
			h = g.rng.Float64() * 24
		}
		h = math.Mod(math.Abs(h), 24)
		times[i] = day.Add(time.Duration(h * float64(time.Hour)))
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for i, at := range times {
		g.genCase(at, i+1)
	}
}

func (g *Generator) genCase(at time.Time, seq int) {
	r := g.rng
	at = at.UTC().Truncate(time.Microsecond)
	cat := g.cats[sort.SearchFloat64s(g.catCum, r.Float64())]
	c := Case{ID: newID(), Number: fmt.Sprintf("%s-%d%05d", at.In(ChinaTime).Format("20060102"), g.cfg.Node, seq%100000),
		Channel: ChannelPhone, Category: cat.Code, Urgency: UrgencyNormal, Node: g.cfg.Node, CreatedAt: at, Version: 1}
	switch x := r.Float64(); {
	case x < 0.80:
		c.DialledNumber = "12345"
	case x < 0.87:
		c.DialledNumber = "12369"
	case x < 0.92:
		c.DialledNumber = "12358"
	default:
		c.DialledNumber = "967111"
	}
	if r.Float64() < 0.08 {
		c.Channel, c.DialledNumber = ChannelWeb, ""
	}
	if r.Float64() < 0.3 {
		c.CallerNumber = g.repeat[g.zipf(len(g.repeat), 0.6)]
	} else {
		c.CallerNumber = fmt.Sprintf("1%d%09d", 3+r.IntN(6), r.IntN(1000000000))
	}
	if r.Float64() < 0.25 {
		c.Location = g.spots[g.zipf(len(g.spots), 0.5)]
	} else {
		c.Location = fmt.Sprintf("%s%d号", streets[r.IntN(len(streets))], 1+r.IntN(900))
	}
	c.Description = cat.Name + "：市民反映" + c.Location + "附近问题，请相关部门处理。"
	c.Confidential = r.Float64() < 0.01
	switch x := r.Float64(); {
	case x < 0.03:
		c.Urgency = UrgencyEmergency
	case x < 0.12:
		c.Urgency = UrgencyUrgent
	}
	var evs []Event
	ev := func(t EventType, when time.Time, v int64, p string) {
		e := Event{ID: newID(), CaseID: c.ID, Type: t, At: when.UTC().Truncate(time.Microsecond), Value: v, Actor: "gen"}
		if p != "" {
			e.Payload = json.RawMessage(p)
		}
		evs = append(evs, e)
	}
	ev(EventCaseCreated, at, 0, "")
	if c.Channel == ChannelPhone {
		ev(EventCallOffered, at, 0, "")
		wait := int64(r.ExpFloat64() * 6000) // mean 6 s: most within 15 s
		switch x := r.Float64(); {
		case x < 0.03:
			ev(EventCallAbandoned, at.Add(time.Duration(wait)*time.Millisecond), wait, "")
		case x < 0.06: // a missed call called back within hours
			cb := int64(r.Float64() * 4 * 3600 * 1000)
			ev(EventCallAnswered, at.Add(time.Duration(cb)*time.Millisecond), cb, `{"callback":true}`)
		default:
			ev(EventCallAnswered, at.Add(time.Duration(wait)*time.Millisecond), wait, "")
		}
		c.CallScore = Satisfaction(3 - min(2, int(r.ExpFloat64()*0.3)))
	}
	now := at.Add(20 * time.Minute)
	if r.Float64() < 0.35 {
		c.State, c.Resolved, c.ClosedAt = StateClosed, true, now
	} else {
		depts := g.deptOf[cat.Code[:2]]
		c.LeadDept = depts[r.IntN(len(depts))]
		c.DispatchedAt = now
		c.Deadline = g.policy.Deadline(now, cat.Code, c.Urgency)
		span := c.Deadline.Sub(now)
		c.State = StateDispatched
		if x := r.Float64(); x < 0.97 {
			// 90 % on time: replied somewhere in the span; else up to half a span late.
			frac := r.Float64() * 0.95
			if r.Float64() < 0.10 {
				frac = 1 + r.Float64()*0.5
			}
			c.RepliedAt = now.Add(time.Duration(frac * float64(span))).Truncate(time.Microsecond)
			c.Resolved = r.Float64() < 0.88
			c.State = StateReplied
			if r.Float64() < 0.95 {
				c.State, c.ClosedAt = StateClosed, c.RepliedAt.Add(time.Hour)
				if r.Float64() < 0.8 {
					c.State = StateEvaluated
					switch y := r.Float64(); {
					case y < 0.86:
						c.Evaluation = Satisfied
					case y < 0.95:
						c.Evaluation = BasicallySatisfed
					default:
						c.Evaluation = Unsatisfied
					}
				}
			}
		}
	}
	c.UpdatedAt = at
	if !c.ClosedAt.IsZero() {
		c.UpdatedAt = c.ClosedAt.UTC().Truncate(time.Microsecond)
		c.ClosedAt = c.UpdatedAt
	}
	g.pend = append(g.pend, c)
	g.pendEv = append(g.pendEv, evs...)
	g.nAll++
}
