"""Rating matrices page (stub; full page in progress)."""
import streamlit as st

st.title("Rating matrices")
