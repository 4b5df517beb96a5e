//go:build !race

package acd_test

const propertySeeds = 300
