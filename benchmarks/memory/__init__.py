"""Peak memory of every HTTP function after its first and its hundredth request. Run: python -m benchmarks.memory"""
