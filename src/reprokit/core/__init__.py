"""The ground floor: process environment and other facts every layer may use."""
