"""How it works page (stub; full page in progress)."""
import streamlit as st

st.title("How it works")
