package cases

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Category is a node of the two-level taxonomy. Top-level codes have two
// digits ("01"); their children extend them by two more ("0101"). Cases are
// filed under a child. WorkingDays is the normal time limit of the child
// category: 7 for most requests, 15 for complex ones that need an inspection
// or several departments.
type Category struct {
	Code        string `json:"code"`
	Name        string `json:"name"`
	NameEN      string `json:"name_en,omitempty"`
	WorkingDays int    `json:"working_days,omitempty"`
}

// Taxonomy is the configurable two-level category tree. It is immutable once
// built, so one value is shared by every request.
type Taxonomy struct {
	byCode map[string]Category
	tops   []Category
	kids   map[string][]Category
}

// NewTaxonomy validates and indexes categories: codes are unique, two or four
// digits, every child has its parent, and children have a time limit.
func NewTaxonomy(cats []Category) (*Taxonomy, error) {
	t := &Taxonomy{byCode: make(map[string]Category, len(cats)), kids: map[string][]Category{}}
	for _, c := range cats {
		if len(c.Code) != 2 && len(c.Code) != 4 || strings.Trim(c.Code, "0123456789") != "" {
			return nil, fmt.Errorf("taxonomy: code %q must be 2 or 4 digits", c.Code)
		}
		if c.Name == "" {
			return nil, fmt.Errorf("taxonomy: code %s has no name", c.Code)
		}
		if _, dup := t.byCode[c.Code]; dup {
			return nil, fmt.Errorf("taxonomy: duplicate code %s", c.Code)
		}
		t.byCode[c.Code] = c
	}
	for _, c := range cats {
		if len(c.Code) == 2 {
			t.tops = append(t.tops, c)
			continue
		}
		if _, ok := t.byCode[c.Code[:2]]; !ok {
			return nil, fmt.Errorf("taxonomy: %s has no parent %s", c.Code, c.Code[:2])
		}
		if c.WorkingDays <= 0 || c.WorkingDays > 60 {
			return nil, fmt.Errorf("taxonomy: %s needs a time limit of 1 to 60 working days", c.Code)
		}
		t.kids[c.Code[:2]] = append(t.kids[c.Code[:2]], c)
	}
	sort.Slice(t.tops, func(i, j int) bool { return t.tops[i].Code < t.tops[j].Code })
	for _, k := range t.kids {
		sort.Slice(k, func(i, j int) bool { return k[i].Code < k[j].Code })
	}
	return t, nil
}

// LoadTaxonomy reads a JSON array of categories.
func LoadTaxonomy(r io.Reader) (*Taxonomy, error) {
	var cats []Category
	if err := json.NewDecoder(r).Decode(&cats); err != nil {
		return nil, fmt.Errorf("taxonomy: %w", err)
	}
	return NewTaxonomy(cats)
}

// Lookup returns a category by code.
func (t *Taxonomy) Lookup(code string) (Category, bool) {
	c, ok := t.byCode[code]
	return c, ok
}

// Leaf reports whether code is a category a case can be filed under.
func (t *Taxonomy) Leaf(code string) bool {
	_, ok := t.byCode[code]
	return ok && len(code) == 4
}

// Top returns the top-level categories in code order.
func (t *Taxonomy) Top() []Category { return append([]Category(nil), t.tops...) }

// Children returns the subcategories of a top-level code.
func (t *Taxonomy) Children(code string) []Category { return append([]Category(nil), t.kids[code]...) }

// All returns every category, parents before their children.
func (t *Taxonomy) All() []Category {
	var out []Category
	for _, p := range t.tops {
		out = append(out, p)
		out = append(out, t.kids[p.Code]...)
	}
	return out
}

// BuiltinCategories covers the topics that dominate 12345 yearly reports.
func BuiltinCategories() []Category {
	return []Category{
		{"01", "城乡建设", "Urban construction", 0},
		{"0101", "违法建设", "Illegal construction", 15},
		{"0102", "房屋质量", "Building quality", 15},
		{"0103", "市政设施", "Municipal facilities", 7},
		{"0104", "道路施工", "Road works", 7},
		{"02", "环境保护", "Environment", 0},
		{"0201", "噪音油烟", "Noise and cooking fumes", 7},
		{"0202", "大气污染", "Air pollution", 7},
		{"0203", "水污染", "Water pollution", 15},
		{"0204", "垃圾处理", "Waste and sanitation", 7},
		{"03", "价格管理", "Prices", 0},
		{"0301", "商品价格", "Goods prices", 7},
		{"0302", "服务收费", "Service charges", 7},
		{"0303", "物业收费", "Property-management fees", 15},
		{"04", "住房保障", "Housing", 0},
		{"0401", "物业管理", "Property management", 7},
		{"0402", "房产交易", "Property transactions", 15},
		{"0403", "保障性住房", "Social housing", 15},
		{"0404", "房屋租赁", "Rentals", 7},
		{"05", "交通运输", "Transport", 0},
		{"0501", "公交地铁", "Buses and metro", 7},
		{"0502", "出租网约车", "Taxis and ride-hailing", 7},
		{"0503", "交通设施", "Traffic facilities", 7},
		{"0504", "停车管理", "Parking", 7},
		{"06", "社会保障", "Social insurance", 0},
		{"0601", "养老保险", "Pensions", 15},
		{"0602", "医疗保险", "Medical insurance", 15},
		{"0603", "劳动就业", "Employment and wages", 7},
		{"0604", "欠薪", "Unpaid wages", 7},
		{"07", "水电气暖", "Utilities", 0},
		{"0701", "供水", "Water supply", 7},
		{"0702", "供电", "Power supply", 7},
		{"0703", "燃气", "Gas", 7},
		{"0704", "供暖", "Heating", 7},
		{"08", "市场监管", "Market supervision", 0},
		{"0801", "消费维权", "Consumer rights", 7},
		{"0802", "食品安全", "Food safety", 7},
		{"0803", "无证经营", "Unlicensed business", 15},
		{"09", "教育", "Education", 0},
		{"0901", "入学招生", "School admission", 7},
		{"0902", "校外培训", "Private tutoring", 7},
		{"10", "卫生健康", "Health", 0},
		{"1001", "医疗服务", "Medical services", 7},
		{"1002", "公共卫生", "Public health", 7},
		{"11", "公安政法", "Public security", 0},
		{"1101", "户籍证件", "Household registration and IDs", 7},
		{"1102", "治安秩序", "Public order", 7},
		{"12", "城市管理", "City management", 0},
		{"1201", "占道经营", "Street vending", 7},
		{"1202", "市容绿化", "City appearance and greenery", 7},
		{"99", "其他", "Other", 0},
		{"9901", "咨询", "Enquiry", 7},
		{"9902", "建议", "Suggestion", 15},
		{"9903", "表扬", "Praise", 7},
	}
}

// BuiltinTaxonomy returns the built-in taxonomy.
func BuiltinTaxonomy() *Taxonomy {
	t, err := NewTaxonomy(BuiltinCategories())
	if err != nil {
		panic(err) // the built-in list is a constant; a test keeps it valid
	}
	return t
}

// Department is a unit that handles dispatched cases.
type Department struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// Directory is the configurable set of departments.
type Directory struct {
	byCode map[string]Department
	all    []Department
}

// NewDirectory validates departments: codes are unique, 1 to 32 of [A-Za-z0-9_-].
func NewDirectory(ds []Department) (*Directory, error) {
	d := &Directory{byCode: map[string]Department{}}
	for _, x := range ds {
		if x.Code == "" || len(x.Code) > 32 || strings.Trim(x.Code, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			return nil, fmt.Errorf("departments: bad code %q", x.Code)
		}
		if _, dup := d.byCode[x.Code]; dup {
			return nil, fmt.Errorf("departments: duplicate code %s", x.Code)
		}
		d.byCode[x.Code] = x
		d.all = append(d.all, x)
	}
	return d, nil
}

// Lookup returns a department by code.
func (d *Directory) Lookup(code string) (Department, bool) {
	x, ok := d.byCode[code]
	return x, ok
}

// All returns the departments in configuration order.
func (d *Directory) All() []Department { return append([]Department(nil), d.all...) }

// DemoDepartments is a city's usual set, for a first start and for tests.
func DemoDepartments() []Department {
	return []Department{
		{"zjj", "住房和城乡建设局"},
		{"cgj", "城市管理局"},
		{"sthjj", "生态环境局"},
		{"fgw", "发展和改革委员会"},
		{"scjgj", "市场监督管理局"},
		{"jtj", "交通运输局"},
		{"rsj", "人力资源和社会保障局"},
		{"ybj", "医疗保障局"},
		{"jyj", "教育局"},
		{"wjw", "卫生健康委员会"},
		{"gaj", "公安局"},
		{"sw", "水务集团"},
		{"dl", "供电公司"},
		{"rq", "燃气集团"},
		{"xc-jd", "西城街道办事处"},
		{"dc-jd", "东城街道办事处"},
	}
}

// DemoDirectory returns the demo departments.
func DemoDirectory() *Directory {
	d, err := NewDirectory(DemoDepartments())
	if err != nil {
		panic(err)
	}
	return d
}
