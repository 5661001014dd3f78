"""Solver lab page (stub; full page in progress)."""
import streamlit as st

st.title("Solver lab")
